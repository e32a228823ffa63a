package io.github.openaiproxy.examples.standalone;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.apache.catalina.Context;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;

/** Marks every response of a demo-mode server, so nobody mistakes canned answers for OpenAI's. */
final class DemoMarker implements Filter {
    /** The response header set in demo mode. */
    static final String HEADER = "X-OpenAI-Proxy-Demo";

    static void install(Context context) {
        FilterDef def = new FilterDef();
        def.setFilterName("demo-marker");
        def.setFilter(new DemoMarker());
        def.setAsyncSupported("true");
        context.addFilterDef(def);
        FilterMap map = new FilterMap();
        map.setFilterName("demo-marker");
        map.addURLPattern("/*");
        context.addFilterMap(map);
    }

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        if (response instanceof HttpServletResponse http) {
            http.setHeader(HEADER, "canned answers from the bundled fake upstream");
        }
        chain.doFilter(request, response);
    }
}
