// LeakyClient.java -- the classic CLOSE_WAIT leak in Java, on purpose.
//
// Usage: java examples/LeakyClient.java PORT COUNT   (JDK 11+ runs a source file)
//   Logs in to db_server COUNT times. Every login is refused, and the error
//   path in login() returns without closing the Socket: each one sits in
//   CLOSE_WAIT. Under the shim the report names LeakyClient.connect
//   (LeakyClient.java:LINE); it exits within the default grace_ms of the
//   FINs, so grace_ms=0 reports them:
//       SOCKLEAK_OPTIONS=grace_ms=0 LD_PRELOAD=build/libsockleak.so \
//           java examples/LeakyClient.java PORT 5
//   The fix: close the socket on the error path (try-with-resources).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;

public class LeakyClient {
    static Socket connect(int port) throws Exception {
        return new Socket("127.0.0.1", port);
    }

    static Socket login(int port, String user) throws Exception {
        Socket s = connect(port);
        s.getOutputStream().write(("LOGIN " + user + " secret\n").getBytes());
        String answer = new BufferedReader(new InputStreamReader(s.getInputStream())).readLine();
        if (answer == null || !answer.startsWith("OK"))
            return null;   // BUG: s is never closed
        return s;
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]), count = Integer.parseInt(args[1]), failed = 0;
        for (int i = 0; i < count; i++)
            if (login(port, "app") == null)
                failed++;
        System.out.println("LeakyClient: " + failed + " of " + count + " logins failed");
        Thread.sleep(200);
    }
}
