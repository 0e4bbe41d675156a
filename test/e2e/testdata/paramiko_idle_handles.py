"""Hold files open on the gateway, one byte written to each: the open
handles of a partner trying to starve the others' uploads.

usage: paramiko_idle_handles.py HOST PORT USER KEYFILE KNOWN_HOSTS COUNT
Prints "refused N MESSAGE" if open number N is refused, then "ready N" with
the number of files held, and holds them until its standard input closes.
"""
import sys

import paramiko


def main():
    host, port, user, keyfile, known, count = sys.argv[1:]
    client = paramiko.SSHClient()
    client.load_host_keys(known)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host, int(port), username=user, key_filename=keyfile,
                   allow_agent=False, look_for_keys=False, timeout=10)
    sftp = client.open_sftp()
    held = []
    for i in range(int(count)):
        try:
            f = sftp.open("hold-%d.bin" % i, "wb")
        except IOError as e:
            print("refused", i, e, flush=True)
            break
        f.write(b"x")
        f.flush()  # not pipelined: waits for the server's answer to the write
        held.append(f)
    print("ready", len(held), flush=True)
    sys.stdin.read()
    client.close()


if __name__ == "__main__":
    main()
