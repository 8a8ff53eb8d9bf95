"""A client class whose connect() uses socket.create_connection and keeps
the socket after the server hung up: a CLOSE_WAIT leak whose Python frame
is PriceClient.connect. Usage: py_class_leak.py PORT"""
import os
import socket
import sys


class PriceClient:
    def __init__(self, port):
        self.port = port
        self.sock = None

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port))  # LEAK-SITE
        self.sock.sendall(b"PRICE ACME\n")
        return self.sock.recv(4096)


if __name__ == "__main__":
    client = PriceClient(int(sys.argv[1]))
    print(client.connect().decode().strip(), flush=True)
    client.sock.recv(4096)      # the server has hung up: b""
    os._exit(0)
