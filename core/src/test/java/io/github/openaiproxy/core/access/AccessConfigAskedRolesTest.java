package io.github.openaiproxy.core.access;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The roles an adapter asks of the host application up front: the mapped ones, then the admin role. */
class AccessConfigAskedRolesTest {
    @Test
    void mappedRolesInOrderThenTheAdminRoleOnce() {
        Map<String, String> roles = new LinkedHashMap<>();
        roles.put("GUEST", "guests");
        roles.put("ADMIN", "users");
        roles.put("CHAT", "chat");
        AccessConfig access =
                AccessConfig.DEFAULTS.withRolePolicies(roles).withAdmin(AccessConfig.Admin.OFF.withRole("ADMIN"));

        assertThat(access.askedRoles()).containsExactly("GUEST", "ADMIN", "CHAT");
        assertThat(AccessConfig.DEFAULTS
                        .withAdmin(AccessConfig.Admin.OFF.withRole("OPS"))
                        .askedRoles())
                .containsExactly("OPS");
        assertThat(AccessConfig.DEFAULTS.askedRoles()).isEqualTo(List.of());
    }
}
