package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A test's own Redis leaves nothing behind: every suite run starts dozens, each with a temp directory. */
class TestRedisTest {

    @Test
    void closeDeletesTheServersDirectory() throws Exception {
        TestRedis.Server master = TestRedis.newServer().start();
        TestRedis.Server sentinel = TestRedis.newSentinel(master);
        TestRedis.Server unstarted = TestRedis.newServer();
        assertThat(master.dir()).isDirectory();
        assertThat(master.dir().resolve("redis.log")).exists();
        assertThat(sentinel.dir().resolve("sentinel.conf")).exists();

        unstarted.close();
        sentinel.close();
        master.close();

        assertThat(master.dir()).doesNotExist();
        assertThat(sentinel.dir()).doesNotExist();
        assertThat(unstarted.dir()).doesNotExist();
    }
}
