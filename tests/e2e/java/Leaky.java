// Leaky.java -- connects to a server that answers and hangs up, reads to EOF
// and keeps the Socket forever: a CLOSE_WAIT leak.  Usage: java Leaky PORT
import java.io.InputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

public class Leaky {
    static final List<Socket> pool = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        Socket s = new Socket("127.0.0.1", Integer.parseInt(args[0]));
        s.getOutputStream().write("LOGIN app secret\n".getBytes());
        InputStream in = s.getInputStream();
        byte[] buf = new byte[256];
        int n, total = 0;
        while ((n = in.read(buf)) > 0)
            total += n;
        pool.add(s);   // BUG: never closed
        System.out.println("read " + total + " bytes");
        Thread.sleep(200);
    }
}
