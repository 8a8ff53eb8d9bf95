// AttachSrv: a Java service started without the shim for sockleak attach:
// it answers "hello" on each connection and keeps it (never closes); each
// line on stdin lets one more connection in; EOF on stdin ends it with status 7.
import java.io.*;
import java.net.*;
import java.util.*;

public class AttachSrv {
    public static void main(String[] args) throws Exception {
        ServerSocket l = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        System.out.println("port " + l.getLocalPort());
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        List<Socket> kept = new ArrayList<>();
        while (in.readLine() != null) {
            Socket c = l.accept();
            c.getOutputStream().write("hello\n".getBytes());
            kept.add(c);
            System.out.println("conn " + kept.size());
            System.out.flush();
        }
        System.out.println("bye " + kept.size());
        System.exit(7);
    }
}
