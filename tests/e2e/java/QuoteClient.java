// QuoteClient.java -- fetch() opens a java.net.Socket, reads the server's
// answer to EOF (the server hung up) and keeps the socket in a pool: a
// CLOSE_WAIT leak whose Java frame is QuoteClient.fetch.
// Usage: java QuoteClient PORT
import java.io.InputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

public class QuoteClient {
    static final List<Socket> pool = new ArrayList<>();

    static String fetch(int port) throws Exception {
        Socket s = new Socket("127.0.0.1", port); // LEAK-SITE
        s.getOutputStream().write("QUOTE ACME\n".getBytes());
        InputStream in = s.getInputStream();
        StringBuilder answer = new StringBuilder();
        byte[] buf = new byte[256];
        int n;
        while ((n = in.read(buf)) > 0)
            answer.append(new String(buf, 0, n));
        pool.add(s);   // BUG: never closed
        return answer.toString().trim();
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 2; i++)
            System.out.println(fetch(Integer.parseInt(args[0])));
        Thread.sleep(200);
    }
}
