package io.github.openaiproxy.core.admin;

import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.AuditPage;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyJson;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyPage;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.images.ImageIds;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.usage.ledger.UsageQueries;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.core.usage.ledger.UsageSummary;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The operations of the admin API, framework-free: the REST routes ({@link AdminRoutes}) and the standalone
 * server's command line call these. Every change is written to the {@link AuditLog} first (who, what, when, the
 * key's id; never the key), so no change is made that the log does not hold.
 *
 * <p>Keys declared in configuration and configured policies are listed but read-only: changing them is 409.
 * Calls block on the stores: make them off request threads.
 */
public final class AdminService {
    /** The actor of changes made on the command line. */
    public static final String CLI = "cli";

    static final int MAX_NAME = 200;
    private static final Instant LATEST_EXPIRY = Instant.parse("9999-12-31T23:59:59Z");
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ProxyKeyStore keys;
    private final PolicyStore policies;
    private final AuditLog audit;
    private final Map<String, Policy> configuredPolicies;
    private final Set<String> declaredKeyIds;
    private final Clock clock;
    /** Where generated images are stored, or {@code null} when {@code images.store} is none. */
    private final ImageStore images;
    /** The usage ledger's queries, or {@code null} when {@code ledger.store} is none. */
    private final UsageQueries usage;
    /**
     * Held by every change of a key or policy, from its read to its write: a change is made from a copy it
     * read, so two at once (a rotation and a policy change of one key) would otherwise write back a stale
     * copy, such as the secret a rotation just replaced, and a key created under a policy being deleted would
     * be left under none. Changes are rare; reads and lookups never take it.
     */
    private final Object changes = new Object();

    /**
     * @param access the configuration: its policies and declared keys are read-only
     * @param keys where keys are looked up and created (the declared ones included, see
     *     {@link io.github.openaiproxy.core.access.LayeredProxyKeyStore})
     * @param policies where policies managed here are kept
     * @param audit where changes are written
     * @param clock for creation and revocation times
     */
    public AdminService(AccessConfig access, ProxyKeyStore keys, PolicyStore policies, AuditLog audit, Clock clock) {
        this(access, keys, policies, audit, clock, null);
    }

    /**
     * An admin that may also delete stored images.
     *
     * @param images the image store, or {@code null} when images are not stored (every image is then unknown)
     */
    public AdminService(
            AccessConfig access,
            ProxyKeyStore keys,
            PolicyStore policies,
            AuditLog audit,
            Clock clock,
            ImageStore images) {
        this(access, keys, policies, audit, clock, images, null);
    }

    /**
     * An admin that may also sum the usage ledger.
     *
     * @param usage the ledger's queries, or {@code null} when no ledger is kept ({@link #usage} is then 404)
     */
    public AdminService(
            AccessConfig access,
            ProxyKeyStore keys,
            PolicyStore policies,
            AuditLog audit,
            Clock clock,
            ImageStore images,
            UsageQueries usage) {
        this.usage = usage;
        this.images = images;
        this.keys = Objects.requireNonNull(keys, "keys");
        this.policies = Objects.requireNonNull(policies, "policies");
        this.audit = Objects.requireNonNull(audit, "audit");
        this.configuredPolicies = access.policies();
        this.declaredKeyIds = access.declaredKeys().stream().map(ProxyKey::id).collect(Collectors.toUnmodifiableSet());
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    // ---- keys

    /** Creates a key; the answer holds the key itself, shown this once. */
    public CreatedKey createKey(String actor, NewKey request) {
        String name = text("name", request.name(), true);
        String owner = text("owner", request.owner(), false);
        Instant now = now();
        if (request.expiresAt() != null
                && (!request.expiresAt().isAfter(now) || request.expiresAt().isAfter(LATEST_EXPIRY))) {
            // Every database can store the years up to 9999.
            throw AdminException.invalid("expiresAt must be in the future, before the year 10000");
        }
        // From the policy's check to the insert: a deletion of the policy in between would leave the key under none.
        synchronized (changes) {
            return createKeyNow(actor, name, owner, request, now);
        }
    }

    private CreatedKey createKeyNow(String actor, String name, String owner, NewKey request, Instant now) {
        String policy = existingPolicy(request.policy() == null ? Policy.KEYS : request.policy());
        requireWritable();
        ProxyKeys.NewKey secret = ProxyKeys.generate();
        ProxyKey key = new ProxyKey(
                newId(),
                secret.displayPrefix(),
                secret.hash(),
                name,
                owner,
                policy,
                now,
                request.expiresAt() == null ? null : request.expiresAt().truncatedTo(ChronoUnit.MILLIS),
                null,
                null);
        record(actor, "key.create", key.id(), policy);
        keys.insert(key);
        return new CreatedKey(key, secret.secret());
    }

    /** Every key, the declared ones first, then the stored ones oldest first: unbounded, see {@link #keyPage}. */
    public List<ProxyKey> listKeys() {
        return keys.list();
    }

    /**
     * At most {@code limit} keys after the key id {@code after} ({@code null}: from the first), the declared ones
     * first, then the stored ones, each in id order ({@link ProxyKeyStore#page}).
     */
    public ProxyKeyPage keyPage(String after, int limit) {
        return keys.page(after, limit);
    }

    /** The key with this id. */
    public ProxyKey key(String id) {
        return find(id);
    }

    /** Whether a key is declared in configuration (read-only). */
    public boolean isDeclared(ProxyKey key) {
        return declaredKeyIds.contains(key.id());
    }

    /** Revokes a key: every request with it is refused from now on. Revoking a revoked key changes nothing. */
    public ProxyKey revokeKey(String actor, String id) {
        return changeKey(actor, "key.revoke", id, key -> {
            if (key.revokedAt() != null) {
                return KeyChange.unchanged(key);
            }
            ProxyKey revoked = key.revoked(now());
            return new KeyChange<>(revoked, null, revoked);
        });
    }

    /** Gives a key a new secret; the id, owner and policy stay, and the old secret stops working. */
    public CreatedKey rotateKey(String actor, String id) {
        return changeKey(actor, "key.rotate", id, key -> {
            if (key.revokedAt() != null) {
                throw AdminException.conflict("key_revoked", "A revoked key cannot be rotated; create a new one");
            }
            ProxyKeys.NewKey secret = ProxyKeys.generate();
            ProxyKey rotated = key.rotated(secret.hash(), secret.displayPrefix());
            return new KeyChange<>(rotated, null, new CreatedKey(rotated, secret.secret()));
        });
    }

    /** Puts a key under another policy. */
    public ProxyKey changeKeyPolicy(String actor, String id, String policy) {
        return changeKey(actor, "key.policy", id, key -> {
            String name = existingPolicy(policy);
            ProxyKey changed = key.withPolicy(name);
            return new KeyChange<>(changed, name, changed);
        });
    }

    /**
     * What one attempt of a key change makes of the key it read.
     *
     * @param changed the key to store, or {@code null} when nothing is to change (nothing is audited or written)
     * @param auditedPolicy the policy the audit entry names, or {@code null}
     * @param answer what the caller is answered once {@code changed} is stored
     */
    private record KeyChange<R>(ProxyKey changed, String auditedPolicy, R answer) {
        static <R> KeyChange<R> unchanged(R answer) {
            return new KeyChange<>(null, null, answer);
        }
    }

    /**
     * A key change under the lock: reads the key (declared and read-only ones are 409), makes the change from it,
     * audits it before the first write, and writes it only if the key is still as read ({@link
     * ProxyKeyStore#replace}). When another instance changed the key in between, it reads it again, and after
     * {@value #CHANGE_ATTEMPTS} tries answers 409 {@code key_changed}.
     */
    private <R> R changeKey(String actor, String action, String id, Function<ProxyKey, KeyChange<R>> change) {
        synchronized (changes) {
            for (int attempt = 0; attempt < CHANGE_ATTEMPTS; attempt++) {
                ProxyKey key = changeable(id);
                KeyChange<R> c = change.apply(key);
                if (c.changed() == null) {
                    return c.answer();
                }
                if (attempt == 0) {
                    record(actor, action, id, c.auditedPolicy());
                }
                if (keys.replace(key, c.changed())) {
                    return c.answer();
                }
            }
            throw keyKeptChanging();
        }
    }

    // ---- policies

    /** The configured policies (read-only), then the stored ones by name. */
    public List<PolicyEntry> listPolicies() {
        List<PolicyEntry> all = new ArrayList<>();
        configuredPolicies.values().forEach(p -> all.add(new PolicyEntry(p, true)));
        for (Policy p : policies.list()) {
            if (!configuredPolicies.containsKey(p.name())) {
                all.add(new PolicyEntry(p, false));
            }
        }
        return all;
    }

    /** The policy with this name, configured or stored. */
    public PolicyEntry policy(String name) {
        Policy configured = configuredPolicies.get(name);
        if (configured != null) {
            return new PolicyEntry(configured, true);
        }
        return policies.find(name).map(p -> new PolicyEntry(p, false)).orElseThrow(AdminException::policyNotFound);
    }

    /** Creates or replaces a stored policy; a configured one's name is 409. */
    public PolicyEntry savePolicy(String actor, Policy policy) {
        checkPolicyName(policy.name());
        if (configuredPolicies.containsKey(policy.name())) {
            throw readOnlyPolicy();
        }
        // From the read to the write: a deletion in between would be undone by the save, and the audit log's
        // last entry would say deleted.
        synchronized (changes) {
            boolean exists = policies.find(policy.name()).isPresent();
            record(actor, exists ? "policy.update" : "policy.create", null, policy.name());
            policies.save(policy);
        }
        return new PolicyEntry(policy, false);
    }

    /** Deletes a stored policy: 409 for a configured one or one a key is under, 404 for an unknown one. */
    public void deletePolicy(String actor, String name) {
        synchronized (changes) {
            deletePolicyNow(actor, name);
        }
    }

    private void deletePolicyNow(String actor, String name) {
        checkPolicyName(name);
        if (configuredPolicies.containsKey(name)) {
            throw readOnlyPolicy();
        }
        if (policies.find(name).isEmpty()) {
            throw AdminException.policyNotFound();
        }
        if (keys.hasUnrevokedKeyUnder(name)) {
            throw AdminException.conflict(
                    "policy_in_use", "Keys are under this policy; move them to another policy first");
        }
        record(actor, "policy.delete", null, name);
        if (!policies.delete(name)) {
            throw AdminException.policyNotFound();
        }
    }

    // ---- images

    /**
     * Deletes a stored image, whoever made it ({@code id} or {@code id.ext}): audited as {@code image.delete} with
     * the image's id. 404 for an id that is unknown or not an image id, or when images are not stored.
     *
     * @return the id of the image deleted
     */
    public String deleteImage(String actor, String id) {
        String bare = id == null ? "" : id;
        int dot = bare.indexOf('.');
        if (dot > 0 && ImageIds.contentTypeOf(bare.substring(dot + 1)).isPresent()) {
            bare = bare.substring(0, dot);
        }
        // The shape is checked before the store is asked, as on the image routes.
        if (images == null || !ImageIds.isValid(bare) || images.find(bare).isEmpty()) {
            throw AdminException.imageNotFound();
        }
        record(actor, IMAGE_DELETE, bare, null);
        if (!images.delete(bare)) {
            throw AdminException.imageNotFound(); // deleted by its owner just now
        }
        return bare;
    }

    /** The audit action of an image deletion; its entry holds the image's id where a key action holds a key's. */
    public static final String IMAGE_DELETE = "image.delete";

    // ---- usage

    /** Whether a usage ledger is kept that {@link #usage} can sum. */
    public boolean hasUsage() {
        return usage != null;
    }

    /**
     * The ledger's rows summed as {@code query} asks; 404 {@code ledger_off} when no ledger is kept. Reads only,
     * so not audited.
     */
    public List<UsageSummary> usage(UsageQuery query) {
        if (usage == null) {
            throw new AdminException(404, "ledger_off", "No usage ledger is kept (ledger.store is none)");
        }
        return usage.summarize(query);
    }

    /** The latest audit entries, newest first. */
    public List<AuditEntry> audit(int limit) {
        return audit.recent(limit);
    }

    /**
     * At most {@code limit} audit entries, newest first, below the position {@code before} ({@code null}: from the
     * newest), and where the next page begins: {@link AuditLog#page(Long, int)}.
     */
    public AuditPage auditPage(Long before, int limit) {
        return audit.page(before, limit);
    }

    // ---- helpers

    /**
     * How often a key change reads the key again when another instance changed it between the read and the write
     * ({@link ProxyKeyStore#replace}): past that, the caller is told to try again.
     */
    private static final int CHANGE_ATTEMPTS = 5;

    private static AdminException keyKeptChanging() {
        return AdminException.conflict("key_changed", "The key was changed by another instance meanwhile; try again");
    }

    private ProxyKey find(String id) {
        return keys.find(id).orElseThrow(AdminException::keyNotFound);
    }

    private ProxyKey changeable(String id) {
        ProxyKey key = find(id);
        if (isDeclared(key)) {
            throw AdminException.conflict(
                    "key_read_only", "This key is declared in configuration; change it there (access.keys)");
        }
        requireWritable();
        return key;
    }

    private void requireWritable() {
        if (!keys.isWritable()) {
            throw AdminException.conflict("key_store_read_only", "The key store is read-only");
        }
    }

    private String existingPolicy(String name) {
        checkPolicyName(name);
        if (configuredPolicies.containsKey(name) || policies.find(name).isPresent()) {
            return name;
        }
        throw new AdminException(400, "unknown_policy", "No policy with this name exists");
    }

    private static void checkPolicyName(String name) {
        if (name == null || !PolicyJson.NAME.matcher(name).matches()) {
            throw AdminException.invalid("A policy name is 1-64 letters, digits, '.', '_' or '-'");
        }
    }

    private static AdminException readOnlyPolicy() {
        return AdminException.conflict(
                "policy_read_only", "This policy comes from configuration (policies.<name>.*); change it there");
    }

    /**
     * A name or owner: trimmed, at most {@value #MAX_NAME} characters, none of them one that is invisible or
     * reorders the text around it ({@link #isHidden}); a refusal names {@code field}.
     */
    private static String text(String field, String value, boolean required) {
        if (value == null || value.isBlank()) {
            if (required) {
                throw new AdminException(400, "invalid_request", field + " is required", field);
            }
            return null;
        }
        String v = value.strip();
        if (v.length() > MAX_NAME || v.codePoints().anyMatch(AdminService::isHidden)) {
            throw new AdminException(
                    400,
                    "invalid_request",
                    field + " must be at most " + MAX_NAME
                            + " characters, none a control, bidirectional or invisible formatting one",
                    field);
        }
        return v;
    }

    /**
     * Whether a character is one a listing or a log line would not show as written: a control character, a line or
     * paragraph separator, a lone surrogate, or a format character (the bidirectional overrides and isolates such
     * as U+202E, which makes a name written "invoice", U+202E, "fdp.exe" read as "invoiceexe.pdf"; zero-width
     * spaces, tag characters, U+FEFF). The zero-width joiner and non-joiner stay allowed: emoji sequences and scripts such as
     * Persian need them to write ordinary names.
     */
    static boolean isHidden(int c) {
        if (c == 0x200C || c == 0x200D) {
            return false;
        }
        int type = Character.getType(c);
        return type == Character.CONTROL
                || type == Character.FORMAT
                || type == Character.LINE_SEPARATOR
                || type == Character.PARAGRAPH_SEPARATOR
                || type == Character.SURROGATE;
    }

    private void record(String actor, String action, String keyId, String policy) {
        audit.record(new AuditEntry(now(), actor, action, keyId, policy));
    }

    private Instant now() {
        return clock.instant().truncatedTo(ChronoUnit.MILLIS);
    }

    /** A new key id: {@code key_} and 96 random bits; not secret, never derived from the key. */
    static String newId() {
        byte[] b = new byte[12];
        RANDOM.nextBytes(b);
        return "key_" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }
}
