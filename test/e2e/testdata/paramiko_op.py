"""One paramiko SFTP operation against the gateway, for the client matrix.

usage: paramiko_op.py HOST PORT USER KEYFILE KNOWN_HOSTS OP ARGS...
Exits non-zero (with the exception printed) when the operation fails.
OP "batch" runs several operations in one session (see main).
"""
import os
import sys
import time

import paramiko


def main():
    host, port, user, keyfile, known, op, *args = sys.argv[1:]
    client = paramiko.SSHClient()
    client.load_host_keys(known)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host, int(port), username=user, key_filename=keyfile,
                   allow_agent=False, look_for_keys=False, timeout=10)
    sftp = client.open_sftp()
    try:
        if op == "batch":  # OP ARGS... ; OP ARGS... in one session: "OK OP" or "ERR OP: error" each, never stopping
            steps, step = [], []
            for a in args + [";"]:
                if a == ";":
                    steps.append(step)
                    step = []
                else:
                    step.append(a)
            for step in steps:
                try:
                    run(sftp, step[0], step[1:])
                    print("OK", step[0])
                except Exception as e:
                    print("ERR %s: %s" % (step[0], e))
        else:
            run(sftp, op, args)
    finally:
        sftp.close()
        client.close()


def run(sftp, op, args):
    if op == "put":  # confirm=True stats the file after upload and checks its size
        sftp.put(args[0], args[1], confirm=True)
    elif op == "putfo":
        with open(args[0], "rb") as f:
            sftp.putfo(f, args[1], confirm=True)
    elif op == "get":
        sftp.get(args[0], args[1])
    elif op == "listdir_attr":
        for a in sftp.listdir_attr(args[0]):
            print(a.filename, a.st_size, a.st_mtime, "%o" % a.st_mode)
        print("--- longnames")
        for a in sftp.listdir_attr(args[0]):
            print(a.longname)
    elif op == "readpart":  # PATH N: read the first N bytes, then close the file cleanly
        with sftp.open(args[0], "rb") as f:
            f.read(int(args[1]))
    elif op == "stat":
        a = sftp.stat(args[0])
        print(a.st_size, a.st_mtime, "%o" % a.st_mode)
    elif op == "open_write":  # open with a Python mode ("wx", "a"), write TEXT, close
        with sftp.open(args[1], args[0]) as f:
            f.write(args[2])
    elif op == "rename":
        sftp.rename(args[0], args[1])
    elif op == "posix_rename":
        sftp.posix_rename(args[0], args[1])
    elif op == "utime":
        t = int(args[1])
        sftp.utime(args[0], (t, t))
    elif op == "truncate":
        sftp.truncate(args[0], int(args[1]))
    elif op == "chmod":
        sftp.chmod(args[0], int(args[1], 8))
    elif op == "remove":
        sftp.remove(args[0])
    elif op == "mkdir":
        sftp.mkdir(args[0])
    elif op == "rmdir":
        sftp.rmdir(args[0])
    elif op == "read_at":  # seek and read, one "OFFSET LENGTH SHA256" line per OFFSET:LENGTH
        import hashlib
        with sftp.open(args[0], "rb") as f:
            for pair in args[1:]:
                off, n = map(int, pair.split(":"))
                f.seek(off)
                data = f.read(n)
                print(off, len(data), hashlib.sha256(data).hexdigest())
    elif op == "check_file":  # WinSCP's checksum request, by name
        check_file(sftp, "check-file-name", args[0])
    elif op == "check_file_handle":
        with sftp.open(args[0], "rb") as f:
            check_file(sftp, "check-file-handle", f.handle)
    else:
        raise SystemExit("unknown op " + op)


def check_file(sftp, ext, target):
    """Sends an SSH_FXP_EXTENDED check-file request (whole file, sha256) and
    prints the algorithm and the hash in hex. paramiko's _request packs every
    int as 64 bits, so the packet is built here."""
    from paramiko.message import Message
    from paramiko.sftp import CMD_EXTENDED
    msg = Message()
    num = sftp.request_number
    sftp.request_number += 1
    msg.add_int(num)
    msg.add_string(ext)
    msg.add_string(target)
    msg.add_string("md5,sha256")
    msg.add_int64(0)  # offset
    msg.add_int64(0)  # length: to the end
    msg.add_int(0)    # block size: one hash
    sftp._expecting[num] = type(None)  # what paramiko's own _request files a reply under
    sftp._send_packet(CMD_EXTENDED, msg)
    _, reply = sftp._read_response(num)
    name = reply.get_text()
    alg = reply.get_text()
    print(name, alg, reply.get_remainder().hex())


if __name__ == "__main__":
    main()
