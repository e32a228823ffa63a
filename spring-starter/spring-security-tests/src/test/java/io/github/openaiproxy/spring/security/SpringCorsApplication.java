package io.github.openaiproxy.spring.security;

import java.util.List;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.CorsConfigurationSource;
import org.springframework.web.cors.UrlBasedCorsConfigurationSource;

/**
 * A host application with Spring's own CORS ({@code http.cors()} and a {@link CorsConfigurationSource} for every
 * path, as many applications have for their own API), to which the proxy is added with its own
 * {@code openai.proxy.cors.*}: both then answer for the proxy's path.
 */
@SpringBootConfiguration
@EnableAutoConfiguration
class SpringCorsApplication {
    static final String BOTH = "https://app.example";
    static final String SPRING_ONLY = "https://spring-only.example";

    @Bean
    SecurityFilterChain security(HttpSecurity http) throws Exception {
        http.authorizeHttpRequests(r -> r.anyRequest().permitAll())
                .cors(Customizer.withDefaults())
                .csrf(c -> c.disable());
        return http.build();
    }

    @Bean
    CorsConfigurationSource corsConfigurationSource() {
        CorsConfiguration c = new CorsConfiguration();
        c.setAllowedOrigins(List.of(BOTH, SPRING_ONLY));
        c.setAllowedMethods(List.of("*"));
        c.setAllowedHeaders(List.of("*"));
        UrlBasedCorsConfigurationSource s = new UrlBasedCorsConfigurationSource();
        s.registerCorsConfiguration("/**", c);
        return s;
    }
}
