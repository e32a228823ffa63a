package io.github.openaiproxy.spring.security;

import static org.springframework.security.test.web.servlet.request.SecurityMockMvcRequestBuilders.formLogin;
import static org.springframework.security.test.web.servlet.request.SecurityMockMvcRequestPostProcessors.httpBasic;
import static org.springframework.security.test.web.servlet.request.SecurityMockMvcRequestPostProcessors.user;
import static org.springframework.security.test.web.servlet.response.SecurityMockMvcResultMatchers.authenticated;
import static org.springframework.security.test.web.servlet.response.SecurityMockMvcResultMatchers.unauthenticated;
import static org.springframework.test.web.servlet.request.MockMvcRequestBuilders.get;
import static org.springframework.test.web.servlet.result.MockMvcResultMatchers.status;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.http.MediaType;
import org.springframework.security.test.web.servlet.setup.SecurityMockMvcConfigurers;
import org.springframework.test.web.servlet.MockMvc;
import org.springframework.test.web.servlet.setup.MockMvcBuilders;
import org.springframework.web.context.WebApplicationContext;

/**
 * The test application's login, with spring-security-test: the users and roles {@link SpringSecurityProxyTests}
 * relies on, by form login and HTTP basic. (The proxy itself needs a real container: see there.)
 */
@SpringBootTest(classes = SecuredApplication.class, properties = "openai.proxy.path=/ai")
class LoginConfigurationTests {
    @Autowired
    WebApplicationContext context;

    MockMvc mvc;

    @BeforeEach
    void setUp() {
        mvc = MockMvcBuilders.webAppContextSetup(context)
                .apply(SecurityMockMvcConfigurers.springSecurity())
                .build();
    }

    @Test
    void formLoginAuthenticatesEachUserWithItsRole() throws Exception {
        mvc.perform(formLogin().user("alice").password(SecuredApplication.PASSWORD))
                .andExpect(authenticated().withUsername("alice").withRoles("CHAT"));
        mvc.perform(formLogin().user("guest").password(SecuredApplication.PASSWORD))
                .andExpect(authenticated().withUsername("guest").withRoles("GUEST"));
        mvc.perform(formLogin().user("root").password(SecuredApplication.PASSWORD))
                .andExpect(authenticated().withUsername("root").withRoles("ADMIN"));
    }

    @Test
    void aWrongPasswordIsNoLogin() throws Exception {
        mvc.perform(formLogin().user("alice").password("wrong")).andExpect(unauthenticated());
        mvc.perform(get("/csrf").with(httpBasic("alice", "wrong"))).andExpect(status().isUnauthorized());
    }

    @Test
    void theApplicationsOwnPagesNeedALogin() throws Exception {
        // A browser is sent to the login form; other clients get HTTP basic's challenge.
        mvc.perform(get("/csrf").accept(MediaType.TEXT_HTML)).andExpect(status().is3xxRedirection());
        mvc.perform(get("/csrf")).andExpect(status().isUnauthorized());
        mvc.perform(get("/csrf").with(httpBasic("guest", SecuredApplication.PASSWORD)))
                .andExpect(status().isOk())
                .andExpect(authenticated().withRoles("GUEST"));
        mvc.perform(get("/csrf").with(user("alice").roles("CHAT"))).andExpect(status().isOk());
    }
}
