// FALLBACK ONLY: starts mongo-java-server (in-memory backend) on HOST:PORT when FerretDB v1
// cannot be installed. Run by scripts/services with Java's single-file source launcher:
//   java -cp 'libs/*' scripts/mongo/FdcMongoServer.java HOST PORT
// It reports MongoDB 5.0 (wire version 13) so that current drivers accept it, and stops
// cleanly on SIGTERM.
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

public final class FdcMongoServer {
    public static void main(String[] args) throws InterruptedException {
        if (args.length != 2) {
            System.err.println("usage: FdcMongoServer HOST PORT");
            System.exit(2);
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        MongoServer server = new MongoServer(new MemoryBackend().version(ServerVersion.MONGO_5_0));
        server.bind(host, port);
        System.out.println("mongo-java-server listening on " + host + ":" + port);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        Thread.currentThread().join();
    }
}
