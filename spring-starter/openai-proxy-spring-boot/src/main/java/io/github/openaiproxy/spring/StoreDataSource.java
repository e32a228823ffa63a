package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.spring.OpenAiProxyProperties.Sessions.Store;
import java.util.Locale;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * Where the starter's stores (chat sessions; proxy keys, policies and the audit log) are kept, from
 * {@code openai.proxy.sessions.store} and the application's {@link DataSource} beans: one rule for all of them.
 * For the starter's auto-configurations.
 */
public final class StoreDataSource {
    /** The property that chooses where the stores are kept. */
    public static final String PROPERTY = "openai.proxy.sessions.store";

    private StoreDataSource() {}

    /**
     * Where to keep a store.
     *
     * @param dataSource the application's DataSource to keep it in; {@code null}: in memory
     * @param inMemoryBecause why it is kept in memory, for the log; {@code null} with a DataSource
     */
    public record Choice(DataSource dataSource, String inMemoryBecause) {
        /** Whether the store is kept in memory. */
        public boolean inMemory() {
            return dataSource == null;
        }
    }

    /**
     * With {@code memory}, in memory; with {@code auto} (the default), in the single or primary DataSource, or in
     * memory without one; with {@code jdbc}, in that DataSource, and without one start-up fails naming the
     * property and the beans ({@code ownBeans}) the application could define instead.
     */
    public static Choice choose(ProxySettings settings, ObjectProvider<DataSource> dataSources, String ownBeans) {
        // Read by core's binder, as the standalone server reads OPENAI_PROXY_SESSIONS_STORE.
        Store kind = OpenAiProxySettings.bind(
                () -> Store.valueOf(settings.sessionStore().toUpperCase(Locale.ROOT)));
        if (kind == Store.MEMORY) {
            return new Choice(null, PROPERTY + "=memory");
        }
        // The single DataSource, or the primary one among several; none when it is ambiguous.
        DataSource dataSource = dataSources.getIfUnique();
        if (dataSource != null) {
            return new Choice(dataSource, null);
        }
        if (kind == Store.JDBC) {
            throw noDataSource(PROPERTY, ownBeans);
        }
        return new Choice(null, "no DataSource in the application");
    }

    /**
     * The single or primary DataSource a store set to {@code jdbc} by {@code property} is kept in (the usage
     * ledger, the limit counters); without one start-up fails naming the property and the beans ({@code
     * ownBeans}) the application could define instead.
     */
    public static DataSource required(String property, ObjectProvider<DataSource> dataSources, String ownBeans) {
        DataSource dataSource = dataSources.getIfUnique();
        if (dataSource == null) {
            throw noDataSource(property, ownBeans);
        }
        return dataSource;
    }

    private static InvalidConfigurationPropertyValueException noDataSource(String property, String ownBeans) {
        return new InvalidConfigurationPropertyValueException(
                property,
                "jdbc",
                "the application has no DataSource bean (or several and none is @Primary): configure"
                        + " spring.datasource.url, or define " + ownBeans);
    }
}
