package io.github.openaiproxy.spring.security;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Map;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.core.userdetails.User;
import org.springframework.security.core.userdetails.UserDetailsService;
import org.springframework.security.provisioning.InMemoryUserDetailsManager;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.csrf.CsrfToken;
import org.springframework.security.web.servlet.util.matcher.PathPatternRequestMatcher;
import org.springframework.security.web.util.matcher.AndRequestMatcher;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A host application with its own login, as an application has it before it adds the proxy: Spring Security
 * with HTTP basic and form login, and users kept in memory. Nothing in it is about the proxy except that
 * {@code /ai/**} is open to everyone at Spring Security's level: the proxy decides who may call it, from the
 * user Spring Security authenticated ({@code getUserPrincipal}, {@code isUserInRole}) and its own
 * {@code openai.proxy.access.*} and {@code openai.proxy.policies.*} settings. So an anonymous caller gets the
 * proxy's 401 in OpenAI's shape (which the SDKs raise as an authentication error), while a wrong password is
 * refused by Spring Security itself, before the proxy.
 */
@SpringBootConfiguration
@EnableAutoConfiguration
@RestController
class SecuredApplication {
    static final String PASSWORD = "correct horse battery staple";

    /** A user with role CHAT, a user with role GUEST, and an administrator (role ADMIN). */
    @Bean
    UserDetailsService users() {
        return new InMemoryUserDetailsManager(
                User.withUsername("alice")
                        .password("{noop}" + PASSWORD)
                        .roles("CHAT")
                        .build(),
                User.withUsername("guest")
                        .password("{noop}" + PASSWORD)
                        .roles("GUEST")
                        .build(),
                User.withUsername("root")
                        .password("{noop}" + PASSWORD)
                        .roles("ADMIN")
                        .build());
    }

    @Bean
    SecurityFilterChain security(HttpSecurity http) throws Exception {
        http.authorizeHttpRequests(requests -> requests
                        // The proxy's path: Spring Security authenticates who it can, the proxy decides.
                        .requestMatchers("/ai/**")
                        .permitAll()
                        .anyRequest()
                        .authenticated())
                .httpBasic(Customizer.withDefaults())
                .formLogin(Customizer.withDefaults())
                // A browser session keeps Spring Security's CSRF protection: its calls to the proxy carry the token,
                // as every POST of the application does. On the proxy's path only, a request without a session
                // cookie has no ambient credential a forgery could borrow (so an anonymous caller gets the proxy's
                // 401, not a CSRF refusal), and one with an Authorization header (a proxy key, HTTP basic) is left to
                // the proxy: a browser adds HTTP basic credentials it cached even to another site's form, but the
                // proxy refuses an origin it does not allow and takes no cross-site request as the user's. The
                // application's own forms have no such check: exempted there, a forged POST would pass.
                .csrf(csrf -> csrf.ignoringRequestMatchers(new AndRequestMatcher(
                        PathPatternRequestMatcher.withDefaults().matcher("/ai/**"),
                        request -> request.getRequestedSessionId() == null
                                || request.getHeader("Authorization") != null)));
        return http.build();
    }

    /** The application's metrics (Actuator would configure a registry of its own). */
    @Bean
    MeterRegistry meterRegistry() {
        return new SimpleMeterRegistry();
    }

    /** One of the application's own forms, which a forged cross-site POST must not reach. */
    @PostMapping("/transfer")
    String transfer() {
        return "transferred";
    }

    /** The CSRF token of the caller's session, as a single-page application fetches it. */
    @GetMapping("/csrf")
    Map<String, String> csrf(CsrfToken token) {
        return Map.of("header", token.getHeaderName(), "token", token.getToken());
    }
}
