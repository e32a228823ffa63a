package io.github.openaiproxy.benchmarks.load;

import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Everything one load benchmark run measured, per target and per repetition. */
final class Results {
    ZonedDateTime startedAt;
    Duration elapsed = Duration.ZERO;
    String loadBefore;
    String loadAfter;
    String proxyJavaOpts;

    final Map<String, List<Throughput>> throughput = new LinkedHashMap<>();
    final Map<String, List<Wrk.Result>> latency = new LinkedHashMap<>();
    final Map<String, List<Streaming>> streaming = new LinkedHashMap<>();
    final Map<String, List<Image>> image = new LinkedHashMap<>();
    final List<Long> heapGrowthKib = new ArrayList<>();
    final List<ClientFloor> clientFloor = new ArrayList<>();
    final List<ClientFloor> clientFloorLatency = new ArrayList<>();
    boolean imageCorrupt;
    final List<Sample> concurrent = new ArrayList<>();
    final Concurrent concurrentOutcome = new Concurrent();

    private long imageBytes = -1;
    private long imageCrc;

    long imageBytes() {
        init();
        return imageBytes;
    }

    long imageCrc() {
        init();
        return imageCrc;
    }

    private void init() {
        if (imageBytes < 0) {
            byte[] b = StubBodies.imageResponse(20);
            imageBytes = b.length;
            imageCrc = StubBodies.crc(b);
        }
    }

    /** One throughput run and the CPU each process spent on it. */
    static final class Throughput {
        Wrk.Result wrk;
        long stubCpu;
        long nginxCpu;
        long proxyCpu;
        long floorCpu;
        long springCpu;
        long totalCpu;
        final Map<String, Long> proxyThreads = new LinkedHashMap<>();

        long otherCpu() {
            return Math.max(0, totalCpu - wrk.cpuMillis() - stubCpu - nginxCpu - serverCpu());
        }

        /** The Java server's CPU: the standalone proxy, Tomcat alone or the Spring Boot app, whichever ran. */
        long serverCpu() {
            return proxyCpu + floorCpu + springCpu;
        }

        double perRequestMicros(long cpuMillis) {
            return wrk.requests() == 0 ? Double.NaN : cpuMillis * 1000.0 / wrk.requests();
        }
    }

    /** Core's default upstream client alone, as core configures it, against the stub. */
    static final class ClientFloor {
        long requests;
        long failed;
        long cpuMillis;
        long stubCpuMillis;
        double seconds;
        long p50Us;
        long p99Us;

        double perRequestMicros() {
            return cpuMillis * 1000.0 / requests;
        }
    }

    /** One streaming-latency run against one target. */
    static final class Streaming {
        int streams;
        int complete;
        long events;
        long split;
        long coalesced;
        String firstProblem;
        long[] ttfeNanos = new long[0];
        long[] delayNanos = new long[0];
    }

    /** One 20 MiB download. */
    static final class Image {
        int status;
        long bytes;
        boolean intact;
        long nanos;
    }

    /** The proxy's footprint with some number of streams open. */
    static final class Sample {
        int streams;
        int receiving;
        int ended;
        long heapKib;
        long rssKib;
        long threads;
        long fds;
    }

    /** How the concurrent streams ended. */
    static final class Concurrent {
        int streams;
        int complete;
        long events;
        long split;
        long coalesced;
        double seconds;
        final List<String> problems = new ArrayList<>();
    }
}
