package io.github.openaiproxy.core.images;

import io.github.openaiproxy.core.internal.JdbcMigrations;
import io.github.openaiproxy.core.internal.JdbcPurge;
import io.github.openaiproxy.core.internal.TablePrefix;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Clock;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * The JDBC {@link ImageStore}: one table, {@code <prefix>images}, in the same database as the sessions (H2 or
 * PostgreSQL), shared by every instance on that database. Bytes go in with {@code setBinaryStream}; a read takes
 * only the bytes of its range ({@code SUBSTRING} of a PostgreSQL {@code BYTEA}, a range of the {@code Blob}
 * elsewhere). An image is written in one transaction, so a reader never sees it half-written.
 *
 * <p>The schema is created or migrated when the store is built, as the session store's: a table
 * {@code <prefix>images_schema_version} records which numbered migrations ran, each idempotent DDL.
 */
public final class JdbcImageStore implements ImageStore {
    /** The default table name prefix, the session store's. */
    public static final String DEFAULT_PREFIX = "openai_proxy_";

    private static final System.Logger LOG = System.getLogger(JdbcImageStore.class.getName());
    /** Expired images deleted per statement. */
    static final int PURGE_STEP = 100;

    private final DataSource dataSource;
    private final Clock clock;
    private final String images;
    private final String versions;
    /** Whether the database is PostgreSQL (its column type, range reads and purge differ), asked once. */
    private final boolean postgres;

    private JdbcImageStore(DataSource dataSource, String prefix, Clock clock, boolean postgres) {
        this.dataSource = dataSource;
        this.clock = clock;
        this.images = prefix + "images";
        this.versions = prefix + "images_schema_version";
        this.postgres = postgres;
    }

    /** A store on {@code dataSource} (which it never closes) with the default table prefix. */
    public static JdbcImageStore create(DataSource dataSource) {
        return create(dataSource, DEFAULT_PREFIX, Clock.systemUTC());
    }

    /**
     * A store on {@code dataSource} with tables named {@code <prefix>...} (lower case letters, digits and
     * {@code _}) and a clock for creation times; creates or migrates the schema.
     */
    public static JdbcImageStore create(DataSource dataSource, String prefix, Clock clock) {
        TablePrefix.check(prefix);
        Objects.requireNonNull(dataSource, "dataSource");
        boolean postgres;
        try (Connection c = dataSource.getConnection()) {
            postgres = JdbcPurge.isPostgres(c);
        } catch (SQLException e) {
            throw new ImageStoreException("could not create or migrate the image table", e);
        }
        JdbcImageStore store = new JdbcImageStore(dataSource, prefix, Objects.requireNonNull(clock, "clock"), postgres);
        store.migrate();
        return store;
    }

    /** The migrations, in order; version i+1 is {@code migrations(..).get(i)}. Never edit one: add one. */
    private List<List<String>> migrations(String binaryType) {
        return List.of(List.of(
                "CREATE TABLE IF NOT EXISTS " + images + " (id VARCHAR(64) NOT NULL PRIMARY KEY,"
                        + " content_type VARCHAR(100) NOT NULL,"
                        + " size_bytes BIGINT NOT NULL,"
                        + " sha256 VARCHAR(64) NOT NULL,"
                        + " owner VARCHAR(200),"
                        + " created_at TIMESTAMP WITH TIME ZONE NOT NULL,"
                        + " data " + binaryType + " NOT NULL)",
                "CREATE INDEX IF NOT EXISTS " + images + "_created_at ON " + images + " (created_at)"));
    }

    private void migrate() {
        try {
            // PostgreSQL's BLOB is a large-object reference; BYTEA holds the bytes in the row.
            String binaryType = postgres ? "BYTEA" : "BLOB";
            new JdbcMigrations(versions, "image", clock).migrate(dataSource, migrations(binaryType));
        } catch (SQLException e) {
            throw new ImageStoreException("could not create or migrate the image table", e);
        }
    }

    @Override
    public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
        ImageIds.check(id);
        Intake.checkContentType(contentType);
        Intake in = new Intake(bytes, maxSize);
        Instant created = clock.instant();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                // The size and digest are known once the driver has read the stream: set in the same transaction.
                try (PreparedStatement p = c.prepareStatement("INSERT INTO " + images
                        + " (id, content_type, size_bytes, sha256, owner, created_at, data)"
                        + " VALUES (?, ?, 0, '', ?, ?, ?)")) {
                    p.setString(1, id);
                    p.setString(2, contentType);
                    if (owner == null) {
                        p.setNull(3, Types.VARCHAR);
                    } else {
                        p.setString(3, owner);
                    }
                    p.setObject(4, utc(created));
                    p.setBinaryStream(5, in);
                    p.executeUpdate();
                }
                in.drain();
                StoredImage image = new StoredImage(id, contentType, in.count(), in.sha256(), owner, created);
                try (PreparedStatement p =
                        c.prepareStatement("UPDATE " + images + " SET size_bytes = ?, sha256 = ? WHERE id = ?")) {
                    p.setLong(1, image.size());
                    p.setString(2, image.sha256());
                    p.setString(3, id);
                    p.executeUpdate();
                }
                c.commit();
                return image;
            } catch (SQLException | IOException | RuntimeException e) {
                c.rollback();
                if (in.tooLarge()) {
                    throw new ImageTooLargeException(maxSize);
                }
                if (e instanceof SQLException && find(id).isPresent()) {
                    throw new IllegalArgumentException("image id already stored");
                }
                throw e;
            }
        } catch (SQLException | IOException e) {
            throw new ImageStoreException("could not store an image", e);
        }
    }

    @Override
    public Optional<StoredImage> find(String id) {
        if (!ImageIds.isValid(id)) {
            return Optional.empty();
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("SELECT content_type, size_bytes, sha256, owner, created_at"
                        + " FROM " + images + " WHERE id = ?")) {
            p.setString(1, id);
            try (ResultSet rs = p.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                return Optional.of(new StoredImage(
                        id,
                        rs.getString(1),
                        rs.getLong(2),
                        rs.getString(3),
                        rs.getString(4),
                        rs.getObject(5, OffsetDateTime.class).toInstant()));
            }
        } catch (SQLException e) {
            throw new ImageStoreException("could not read an image's metadata", e);
        }
    }

    @Override
    public Optional<InputStream> open(String id, long offset, long length) {
        if (!ImageIds.isValid(id)) {
            return Optional.empty();
        }
        Connection c = null;
        try {
            c = dataSource.getConnection();
            // A transaction: some drivers only stream a binary column inside one.
            c.setAutoCommit(false);
            // Only the range is read: pgjdbc holds a whole BYTEA value in memory, so PostgreSQL cuts the range out
            // itself; a BLOB (H2 and the rest) is read lazily, from the range's first byte.
            PreparedStatement p = c.prepareStatement(
                    postgres
                            ? "SELECT SUBSTRING(data FROM ? FOR ?) FROM " + images + " WHERE id = ?"
                            : "SELECT data FROM " + images + " WHERE id = ?");
            if (postgres) {
                // A BYTEA holds at most 1 GB: the positions are INTEGERs.
                p.setInt(1, Math.toIntExact(offset + 1));
                p.setInt(2, Math.toIntExact(length));
                p.setString(3, id);
            } else {
                p.setString(1, id);
            }
            ResultSet rs = p.executeQuery();
            if (!rs.next()) {
                close(c);
                return Optional.empty();
            }
            InputStream data = postgres
                    ? rs.getBinaryStream(1)
                    : length == 0
                            ? InputStream.nullInputStream()
                            : rs.getBlob(1).getBinaryStream(offset + 1, length);
            Connection connection = c;
            return Optional.of(new FilterInputStream(new Bounded(data, length)) {
                @Override
                public void close() throws IOException {
                    try {
                        super.close();
                    } finally {
                        JdbcImageStore.close(connection);
                    }
                }
            });
        } catch (SQLException | RuntimeException e) {
            close(c);
            throw new ImageStoreException("could not read an image", e);
        }
    }

    private static void close(Connection c) {
        if (c == null) {
            return;
        }
        try {
            c.rollback(); // read only: nothing to keep
            c.close();
        } catch (SQLException e) {
            // nothing more to do
        }
    }

    @Override
    public boolean delete(String id) {
        if (!ImageIds.isValid(id)) {
            return false;
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement p = c.prepareStatement("DELETE FROM " + images + " WHERE id = ?")) {
            p.setString(1, id);
            return p.executeUpdate() > 0;
        } catch (SQLException e) {
            throw new ImageStoreException("could not delete an image", e);
        }
    }

    /**
     * Deletes in steps of {@value #PURGE_STEP} images, each its own short transaction, so that a backlog is not one
     * long one; on PostgreSQL, images another instance's sweep holds are skipped (that sweep deletes them) instead
     * of waited for.
     */
    @Override
    public int deleteExpired(Instant before) {
        try (Connection c = dataSource.getConnection()) {
            String expired =
                    "SELECT id FROM " + images + " WHERE created_at < ? ORDER BY created_at LIMIT " + PURGE_STEP;
            try (PreparedStatement p = c.prepareStatement(JdbcPurge.deleteSelected(images, expired, postgres, true))) {
                p.setObject(1, utc(before));
                int deleted = 0;
                int step;
                do {
                    step = p.executeUpdate();
                    deleted += step;
                } while (step == PURGE_STEP);
                return deleted;
            }
        } catch (SQLException e) {
            throw new ImageStoreException("could not delete expired images", e);
        }
    }

    private static OffsetDateTime utc(Instant instant) {
        return OffsetDateTime.ofInstant(instant, ZoneOffset.UTC);
    }
}
