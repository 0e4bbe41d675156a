package main

import (
	"context"
	"fmt"

	"github.com/s3sftpd/s3sftpd/config"
	"github.com/s3sftpd/s3sftpd/crypt"
	"github.com/s3sftpd/s3sftpd/s3fs"
	"github.com/s3sftpd/s3sftpd/store"
)

// setEncryption adds the keys of [encryption] to an s3fs config, with a KMS
// client (region and retries of [s3]) when kms_key_id is set.
func setEncryption(ctx context.Context, s *s3fs.Config, e config.Encryption) error {
	keys, err := keyring(e)
	if err != nil {
		return err
	}
	s.Keys = keys
	s.Envelope = e.Mode == config.EncryptionEnvelope
	s.RefuseFormat1 = e.FormatV1 == config.FormatV1Refuse
	if e.KMSKeyID != "" {
		client, err := store.DialKMS(ctx, s.Config)
		if err != nil {
			return fmt.Errorf("kms client: %w", err)
		}
		s.KMS = &s3fs.KMS{Client: client, KeyID: e.KMSKeyID}
	}
	if e.Names == config.NamesEncrypted {
		if s.NameKey, err = crypt.NewKEK(e.NamesKEK); err != nil {
			return fmt.Errorf("names key: %w", err)
		}
	}
	return nil
}

// keyring builds the KEKs of [encryption]; nil when there are none. With
// old_kek_files but no kek_file (data keys from KMS) it only reads.
func keyring(e config.Encryption) (*crypt.Keyring, error) {
	if e.KEK == nil && len(e.OldKEKs) == 0 {
		return nil, nil
	}
	var current *crypt.KEK
	if e.KEK != nil {
		var err error
		if current, err = crypt.NewKEK(e.KEK); err != nil {
			return nil, fmt.Errorf("kek_file: %w", err)
		}
	}
	var old []*crypt.KEK
	for i, b := range e.OldKEKs {
		k, err := crypt.NewKEK(b)
		if err != nil {
			return nil, fmt.Errorf("old_kek_files[%d]: %w", i, err)
		}
		old = append(old, k)
	}
	return crypt.NewKeyring(current, old...), nil
}
