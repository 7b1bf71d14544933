# SPDX-License-Identifier: Apache-2.0
"""What ssh -L does for docs.sh: listen on the agent's socket, connect to
the signing host's socket as user signetfs (the uid p11-kit server
checks), copy both ways.

usage: forward.py LISTEN_SOCKET TARGET_DIR UID:GID   (TARGET_DIR/p11.sock)
"""
import os, socket, sys, threading
listen, target_dir, ids = sys.argv[1], sys.argv[2], sys.argv[3]
uid, gid = map(int, ids.split(':'))
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen)
os.chmod(listen, 0o600)
srv.listen(8)
dfd = os.open(target_dir, os.O_PATH)  # reachable after the uid change
os.setgid(gid)
os.setuid(uid)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.connect(f'/proc/self/fd/{dfd}/p11.sock')
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
