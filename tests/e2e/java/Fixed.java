// Fixed.java -- Leaky.java with try-with-resources.  Usage: java Fixed PORT
import java.io.InputStream;
import java.net.Socket;

public class Fixed {
    public static void main(String[] args) throws Exception {
        int total = 0;
        try (Socket s = new Socket("127.0.0.1", Integer.parseInt(args[0]))) {
            s.getOutputStream().write("LOGIN app secret\n".getBytes());
            InputStream in = s.getInputStream();
            byte[] buf = new byte[256];
            int n;
            while ((n = in.read(buf)) > 0)
                total += n;
        }
        System.out.println("read " + total + " bytes");
        Thread.sleep(200);
    }
}
