// Time N new Socket(port)+close(); print the microseconds of this thread's
// CPU time per operation.
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.Socket;

public class JavaClient {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]), n = Integer.parseInt(args[1]);
        for (int i = 0; i < 500; i++) new Socket("127.0.0.1", port).close();   // warm-up
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        long t0 = bean.getCurrentThreadCpuTime();
        for (int i = 0; i < n; i++) new Socket("127.0.0.1", port).close();
        System.out.printf("%.3f%n", (bean.getCurrentThreadCpuTime() - t0) / 1e3 / n);
    }
}
