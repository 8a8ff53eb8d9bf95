// CleanClient.java -- Socket, SocketChannel, ServerSocket.accept and
// HttpClient, each closed: no leak.  Usage: java CleanClient PORT
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

public class CleanClient {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.getOutputStream().write("HELLO\n".getBytes());
            while (s.getInputStream().read() >= 0) { }
        }
        try (SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
            ch.write(ByteBuffer.wrap("HELLO\n".getBytes()));
            ByteBuffer buf = ByteBuffer.allocate(64);
            while (ch.read(buf) >= 0) buf.clear();
        }
        try (ServerSocket srv = new ServerSocket(0);
             Socket c = new Socket("127.0.0.1", srv.getLocalPort());
             Socket a = srv.accept()) {
            c.getOutputStream().write(1);
        }
        System.out.println("done");
    }
}
