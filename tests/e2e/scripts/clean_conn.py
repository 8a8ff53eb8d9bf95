"""Log in to a server that refuses and hangs up, closing the connection
with a with-statement.  Usage: clean_conn.py PORT"""
import socket
import sys


def login(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"LOGIN app secret\n")
        answer = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


if __name__ == "__main__":
    print(login(int(sys.argv[1])).decode().strip(), flush=True)
