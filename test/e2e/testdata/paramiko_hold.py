"""A misbehaving partner: opens many handles on one SFTP session and holds
them, for the fairness tests and bench/fairness.sh.

usage: paramiko_hold.py HOST PORT USER KEYFILE KNOWN_HOSTS MODE PATH HANDLES [READS SIZE [EVERY]]

MODE "read": open PATH HANDLES times and send READS reads of SIZE bytes at
consecutive offsets on each (raw SSH_FXP_READ, so the sizes are exact).
MODE "write": open PATH.N for writing, N = 0..HANDLES-1, and write 1 byte to
each. Then print "ready", hold everything open until stdin closes, and close.
With EVERY (seconds), read handles go on reading slowly while held: every
EVERY seconds each reads its next SIZE bytes (from the start again at the end).
KNOWN_HOSTS "-" accepts any host key (the bench's throwaway gateway).
"""
import select
import sys

import paramiko
from paramiko.py3compat import long
from paramiko.sftp import CMD_DATA, CMD_READ


def main():
    host, port, user, keyfile, known, mode, path, handles, *rest = sys.argv[1:]
    client = paramiko.SSHClient()
    if known == "-":
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    else:
        client.load_host_keys(known)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host, int(port), username=user, key_filename=keyfile,
                   allow_agent=False, look_for_keys=False, timeout=10)
    sftp = client.open_sftp()
    files, offsets = [], []
    for i in range(int(handles)):
        if mode == "read":
            reads, size = int(rest[0]), int(rest[1])
            f = sftp.open(path, "rb")
            for r in range(reads):
                t, msg = sftp._request(CMD_READ, f.handle, long(r * size), int(size))
                if t != CMD_DATA or len(msg.get_string()) != size:
                    raise SystemExit("short read on handle %d" % i)
            offsets.append(reads * size)
        elif mode == "write":
            f = sftp.open("%s.%d" % (path, i), "wb")
            f.write(b"x")
            f.flush()
        else:
            raise SystemExit("unknown mode " + mode)
        files.append(f)
    print("ready", flush=True)
    every = float(rest[2]) if mode == "read" and len(rest) > 2 else 0
    while every > 0 and not select.select([sys.stdin], [], [], every)[0]:
        size = int(rest[1])
        for i, f in enumerate(files):
            try:
                t, msg = sftp._request(CMD_READ, f.handle, long(offsets[i]), int(size))
                offsets[i] += len(msg.get_string())
            except EOFError:
                offsets[i] = 0
    sys.stdin.read()
    for f in files:
        try:
            f.close()
        except (IOError, EOFError):
            pass
    client.close()


if __name__ == "__main__":
    main()
