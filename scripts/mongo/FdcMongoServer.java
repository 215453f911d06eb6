// FALLBACK ONLY: starts mongo-java-server (in-memory backend) on HOST:PORT when FerretDB v1
// cannot be installed. Run by scripts/services with Java's single-file source launcher:
//   java -cp 'libs/*' scripts/mongo/FdcMongoServer.java HOST PORT
// It announces MongoDB 5.0 / wire version 13: the library's own MONGO_5_0 constant announces
// wire version 8 (MongoDB 4.2), which the Rust driver 3.x refuses (it needs at least 9), while
// the protocol the library speaks (OP_MSG, hello) is the one of 5.0. Stops cleanly on SIGTERM.
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;

public final class FdcMongoServer {
    /** MongoDB 5.0.0, wire version 13. */
    private static final MongoVersion MONGO_5_0 = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(5, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 13;
        }
    };

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 2) {
            System.err.println("usage: FdcMongoServer HOST PORT");
            System.exit(2);
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        MongoServer server = new MongoServer(new MemoryBackend().version(MONGO_5_0));
        server.bind(host, port);
        System.out.println("mongo-java-server listening on " + host + ":" + port);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        Thread.currentThread().join();
    }
}
