// ChannelClient.java -- Feed.open() connects a SocketChannel, reads to EOF
// and keeps it: a CLOSE_WAIT leak whose Java frame is ChannelClient$Feed.open.
// Usage: java ChannelClient PORT
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

public class ChannelClient {
    static class Feed {
        SocketChannel ch;

        void open(int port) throws Exception {
            ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port)); // LEAK-SITE
            ch.write(ByteBuffer.wrap("FEED\n".getBytes()));
            ByteBuffer buf = ByteBuffer.allocate(256);
            while (ch.read(buf) >= 0)
                buf.clear();
        }
    }

    public static void main(String[] args) throws Exception {
        Feed feed = new Feed();
        feed.open(Integer.parseInt(args[0]));
        System.out.println("feed ended");
        Thread.sleep(200);
    }
}
