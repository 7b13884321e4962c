package dev.qanatix.neo4j;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Comparator;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Config;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Logging;
import org.neo4j.driver.Session;
import org.neo4j.driver.SessionConfig;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilder;
import org.neo4j.harness.Neo4jBuilders;

/**
 * Starts a real Neo4j 5.26 (community) server in this JVM through neo4j-harness, for qanatix
 * integration tests. Configuration comes from the environment:
 *
 * <ul>
 *   <li>NEO4J_BOLT_PORT (default 7687) - Bolt listens on 127.0.0.1 only, unencrypted.
 *   <li>NEO4J_HTTP_PORT (default: HTTP disabled) - set to a port number to also serve HTTP on
 *       127.0.0.1; "off", "0" or empty disables the web server.
 *   <li>NEO4J_PASSWORD (default qanatix-test) - password of user neo4j; auth is enabled.
 *   <li>NEO4J_DATA_DIR (default $TMPDIR/qanatix-neo4j) - working directory. The harness creates a
 *       fresh random sub-directory per start and deletes it on clean shutdown, so data does NOT
 *       persist across restarts. Leftovers of a killed run are removed on the next start.
 *   <li>NEO4J_PAGECACHE (default 128m) - page cache size.
 * </ul>
 *
 * <p>Prints exactly one line {@code NEO4J_READY bolt://127.0.0.1:<port>} on stdout once the
 * password is set and a real Bolt driver session has logged in and run a query in the default
 * database. Shuts down cleanly on SIGTERM/SIGINT (shutdown hook).
 */
public final class Neo4jLauncher {

    private static final String MARKER = ".qanatix-neo4j-workdir";

    private Neo4jLauncher() {}

    public static void main(String[] args) throws Exception {
        final PrintStream out = System.out;
        final int boltPort = intEnv("NEO4J_BOLT_PORT", 7687);
        final String httpPortRaw = env("NEO4J_HTTP_PORT", "").trim();
        final String password = env("NEO4J_PASSWORD", "qanatix-test");
        final Path dataDir = Paths.get(env("NEO4J_DATA_DIR",
                Paths.get(System.getProperty("java.io.tmpdir"), "qanatix-neo4j").toString()))
                .toAbsolutePath();
        final long pageCache = parseBytes(env("NEO4J_PAGECACHE", "128m"));

        if (password.isEmpty()) {
            fail("NEO4J_PASSWORD must not be empty");
        }

        prepareWorkDir(dataDir);

        Neo4jBuilder builder = Neo4jBuilders.newInProcessBuilder(dataDir)
                .withConfig(GraphDatabaseSettings.auth_enabled, true)
                .withConfig(GraphDatabaseSettings.auth_minimum_password_length, 1)
                .withConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
                .withConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .withConfig(GraphDatabaseSettings.udc_enabled, false)
                .withConfig(BoltConnector.enabled, true)
                .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", boltPort))
                .withConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", boltPort))
                .withConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .withConfig(HttpsConnector.enabled, false)
                // Bolt's Netty loop otherwise waits a 5 s quiet period on shutdown (stop took ~12 s).
                .withConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .withConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(5));

        boolean httpEnabled = !(httpPortRaw.isEmpty() || httpPortRaw.equals("0")
                || httpPortRaw.equalsIgnoreCase("off") || httpPortRaw.equalsIgnoreCase("false"));
        if (httpEnabled) {
            int httpPort = parsePort("NEO4J_HTTP_PORT", httpPortRaw);
            builder = builder
                    .withConfig(HttpConnector.enabled, true)
                    .withConfig(HttpConnector.listen_address, new SocketAddress("127.0.0.1", httpPort))
                    .withConfig(HttpConnector.advertised_address, new SocketAddress("127.0.0.1", httpPort));
        } else {
            builder = builder.withDisabledServer();
        }

        log("starting Neo4j (harness) bolt=127.0.0.1:" + boltPort
                + " http=" + (httpEnabled ? "127.0.0.1:" + httpPortRaw : "off")
                + " pagecache=" + pageCache + "B workdir=" + dataDir
                + " maxHeap=" + (Runtime.getRuntime().maxMemory() >> 20) + "MiB");

        final long t0 = System.nanoTime();
        final Neo4j neo4j;
        try {
            neo4j = builder.build();
        } catch (Throwable e) {
            log("FAILED to start Neo4j: " + e);
            e.printStackTrace();
            System.exit(2);
            return;
        }

        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log("shutting down Neo4j");
            try {
                neo4j.close();
            } catch (Throwable e) {
                log("error during shutdown: " + e);
            }
            log("Neo4j stopped");
            stopped.countDown();
        }, "neo4j-shutdown"));

        try {
            setInitialPassword(neo4j, password);
            String boltUri = "bolt://127.0.0.1:" + boltPort;
            probe(boltUri, password);
            log("ready in " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) + " ms");
            out.println("NEO4J_READY " + boltUri);
            out.flush();
        } catch (Throwable e) {
            log("FAILED readiness: " + e);
            e.printStackTrace();
            System.exit(3); // runs the shutdown hook
            return;
        }

        // Park the main thread; the JVM exits when SIGTERM/SIGINT runs the shutdown hook.
        stopped.await();
    }

    /** Neo4j 5 ships user neo4j with password "neo4j" and "change required"; replace it. */
    private static void setInitialPassword(Neo4j neo4j, String password) {
        GraphDatabaseService system =
                neo4j.databaseManagementService().database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        String alter = "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED";
        if (password.equals("neo4j")) {
            // Neo4j refuses to "change" a password to the same value; go through a temporary one.
            system.executeTransactionally(alter, Map.of("pw", "qanatix-tmp-" + System.nanoTime()));
        }
        system.executeTransactionally(alter, Map.of("pw", password));
    }

    /** Real login over Bolt with the Java driver, one write-routed and one read query on "neo4j". */
    private static void probe(String boltUri, String password) {
        Config config = Config.builder()
                .withoutEncryption()
                .withLogging(Logging.none())
                .withConnectionTimeout(10, TimeUnit.SECONDS)
                .build();
        try (Driver driver = GraphDatabase.driver(boltUri, AuthTokens.basic("neo4j", password), config)) {
            driver.verifyConnectivity();
            try (Session session = driver.session(SessionConfig.forDatabase("neo4j"))) {
                long one = session.executeWrite(tx -> tx.run("RETURN 1 AS one").single().get("one").asLong());
                long n = session.executeRead(tx -> tx.run("MATCH (n) RETURN count(n) AS c").single().get("c").asLong());
                if (one != 1) {
                    throw new IllegalStateException("RETURN 1 gave " + one);
                }
                log("bolt probe ok (login neo4j, RETURN 1, node count " + n + ")");
            }
        }
    }

    /**
     * The harness puts each run into a random sub-directory of dataDir and deletes it on close.
     * After a SIGKILL those sub-directories stay behind; remove them, but only inside a directory
     * we own (marker file), never inside an arbitrary non-empty directory.
     */
    private static void prepareWorkDir(Path dataDir) throws IOException {
        Files.createDirectories(dataDir);
        Path marker = dataDir.resolve(MARKER);
        boolean empty;
        try (Stream<Path> s = Files.list(dataDir)) {
            empty = s.findAny().isEmpty();
        }
        if (empty) {
            Files.writeString(marker, "owned by qanatix Neo4jLauncher; contents are deleted on start\n");
            return;
        }
        if (!Files.exists(marker)) {
            log("warning: " + dataDir + " is not empty and has no " + MARKER + "; not cleaning it");
            return;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dataDir)) {
            for (Path p : entries) {
                if (!p.getFileName().toString().equals(MARKER)) {
                    log("removing stale " + p);
                    deleteRecursively(p);
                }
            }
        }
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(q);
            }
        }
    }

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null ? def : v;
    }

    private static int intEnv(String name, int def) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? def : parsePort(name, v.trim());
    }

    private static int parsePort(String name, String v) {
        try {
            int p = Integer.parseInt(v);
            if (p < 1 || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            fail(name + " is not a valid port: " + v);
            return -1;
        }
    }

    private static long parseBytes(String v) {
        String s = v.trim().toLowerCase(Locale.ROOT);
        long mult = 1;
        if (s.endsWith("k")) {
            mult = 1L << 10;
        } else if (s.endsWith("m")) {
            mult = 1L << 20;
        } else if (s.endsWith("g")) {
            mult = 1L << 30;
        }
        if (mult != 1) {
            s = s.substring(0, s.length() - 1);
        }
        try {
            return Long.parseLong(s) * mult;
        } catch (NumberFormatException e) {
            fail("NEO4J_PAGECACHE is not a size like 128m: " + v);
            return -1;
        }
    }

    private static void fail(String msg) {
        log("error: " + msg);
        System.exit(64);
    }

    private static void log(String msg) {
        System.err.println("[neo4j-launcher] " + msg);
        System.err.flush();
    }
}
