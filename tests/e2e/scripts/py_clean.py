"""Every way of making a socket, each closed: socket.socket, create_connection,
a listener's accept, socketpair. Usage: py_clean.py PORT"""
import socket
import sys


def main(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"HELLO\n")
        while s.recv(4096):
            pass
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        with socket.create_connection(srv.getsockname()) as c:
            conn, _ = srv.accept()
            conn.close()
    a, b = socket.socketpair()
    a.close()
    b.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
