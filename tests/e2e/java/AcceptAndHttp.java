// AcceptAndHttp.java -- keeps a socket from ServerSocket.accept (in
// acceptOne) and HttpClient's pooled connection (in fetchStatus) open at
// exit: both are reported with the method that made them.
// Usage: java AcceptAndHttp HTTP_PORT
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

public class AcceptAndHttp {
    static final List<Object> keep = new ArrayList<>();

    static void acceptOne(ServerSocket srv) throws Exception {
        keep.add(srv.accept()); // ACCEPT-SITE
    }

    static int fetchStatus(HttpClient client, int port) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/")).build();
        return client.send(req, HttpResponse.BodyHandlers.ofString()).statusCode(); // HTTP-SITE
    }

    public static void main(String[] args) throws Exception {
        ServerSocket srv = new ServerSocket(0);
        keep.add(srv);
        keep.add(new Socket("127.0.0.1", srv.getLocalPort()));
        acceptOne(srv);
        HttpClient client = HttpClient.newHttpClient();
        keep.add(client);
        System.out.println(fetchStatus(client, Integer.parseInt(args[0])));
        System.exit(0);
    }
}
