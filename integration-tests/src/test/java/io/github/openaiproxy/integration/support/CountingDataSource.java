package io.github.openaiproxy.integration.support;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Blob;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;

/**
 * A {@link DataSource} that counts what its result sets hand over: the characters of every {@code getString}
 * value and the bytes of every binary value ({@code getBytes}, {@code getBinaryStream}, and the streams of a
 * {@code getBlob}). A binary value is read whole as soon as it is asked for, so the count is the size of the value
 * the query returned, whatever the caller then reads of it: the same observation on H2 and PostgreSQL.
 */
public final class CountingDataSource {
    private final DataSource target;
    private final AtomicLong chars = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();

    public CountingDataSource(DataSource target) {
        this.target = target;
    }

    /** The counting data source. */
    public DataSource dataSource() {
        return wrap(DataSource.class, target);
    }

    /** Characters of text values handed over so far. */
    public long chars() {
        return chars.get();
    }

    /** Bytes of binary values handed over so far. */
    public long bytes() {
        return bytes.get();
    }

    /** Starts counting again from zero. */
    public void reset() {
        chars.set(0);
        bytes.set(0);
    }

    private <T> T wrap(Class<T> type, T object) {
        InvocationHandler handler = (proxy, method, args) -> {
            Object result;
            try {
                result = method.invoke(object, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            if (result == null) {
                return null;
            }
            String name = method.getName();
            if (result instanceof Connection c && type != Connection.class) {
                return wrap(Connection.class, c);
            }
            if (result instanceof Statement && name.startsWith("prepare")) {
                return wrap(java.sql.PreparedStatement.class, (java.sql.PreparedStatement) result);
            }
            if (result instanceof Statement s && name.equals("createStatement")) {
                return wrap(Statement.class, s);
            }
            if (result instanceof ResultSet rs) {
                return wrap(ResultSet.class, rs);
            }
            if (type == ResultSet.class && name.equals("getString")) {
                chars.addAndGet(((String) result).length());
            } else if (name.equals("getBytes")) {
                bytes.addAndGet(((byte[]) result).length);
            } else if (result instanceof InputStream in && name.equals("getBinaryStream")) {
                return counted(in);
            } else if (result instanceof Blob blob) {
                return wrap(Blob.class, blob);
            }
            return result;
        };
        return type.cast(Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {type}, handler));
    }

    private InputStream counted(InputStream in) {
        try (in) {
            byte[] all = in.readAllBytes();
            bytes.addAndGet(all.length);
            return new ByteArrayInputStream(all);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
