using System.Globalization;
using DevSidecar.Resources.Redis;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DevSidecar.State.Redis;

/// <summary>
/// state.redis as components-contrib v1.17.6 state/redis/redis.go has it. Each key is a hash {data, version[,
/// first-write]}, so real daprd reads the same data; the ETag is the version, a counter bumped by every write.
/// <list type="bullet">
/// <item>A write passes when the key is missing (whatever ETag was given), when the ETag is the current version, or,
/// without an ETag (or under last-write, which ignores it), when the key was never written with first-write.
/// A first-write save marks the key (field first-write) and from then on every write without its ETag fails.</item>
/// <item>A failed save with an ETag is an ETag mismatch (daprd: Aborted / 409); without one a plain error (Internal /
/// 500). A non-numeric ETag is invalid (InvalidArgument / 400). A failed delete is always a mismatch.</item>
/// <item>Multi runs every operation on its own inside MULTI/EXEC: one that fails leaves the others applied ("Redis does
/// not support transaction rollbacks"), the first failure is the error. Operations never mark first-write, and a
/// TTL's EXPIRE/PERSIST runs even when its set failed. An operation with metadata contentType application/json takes
/// contrib's RedisJSON path, which fails on a server without the module.</item>
/// <item>A write without TTL leaves the key's expiry as it was; ttlInSeconds &lt;= 0 makes it persistent.</item>
/// </list>
/// The operations of one call run in one Lua script, which Redis runs as atomically as MULTI/EXEC.
/// </summary>
public sealed class RedisStateStore : IStateStore, IConnectingComponent
{
    // ARGV[1] = "1" when a TTL applies even to a failed set (Multi); then per operation, from ARGV[2], six values:
    // kind ("set" | "del" | "json"), version to match ("0" = none), value, first-write mark ("0" = set it), ttl seconds
    // ("" = none), unused. Returns per operation "" (applied) or the failure text.
    private const string WriteScript = """
        local ttlAlways = ARGV[1] == "1"
        local function set(key, ver, value, mark, ttl)
          local version = redis.pcall("HGET", key, "version")
          if type(version) == "table" then redis.call("DEL", key); version = false end
          local marked = redis.call("HGET", key, "first-write")
          local pass = (not version) or version == "" or version == ver or ((not marked) and ver == "0")
          if pass then
            redis.call("HSET", key, "data", value)
            if mark == "0" then redis.call("HSET", key, "first-write", 0) end
            redis.call("HINCRBY", key, "version", 1)
          end
          if ttl ~= "" and (pass or ttlAlways) then
            if tonumber(ttl) > 0 then redis.call("EXPIRE", key, ttl) else redis.call("PERSIST", key) end
          end
          if pass then return "" end
          return "failed to set key " .. key
        end
        local function del(key, ver)
          local version = redis.pcall("HGET", key, "version")
          if (not version) or type(version) == "table" or version == ver or version == "" or ver == "0" then
            redis.call("DEL", key)
            return ""
          end
          return "failed to delete " .. key
        end
        local results = {}
        for i = 1, #KEYS do
          local b = 2 + (i - 1) * 6
          local kind = ARGV[b]
          local ok, result = pcall(function()
            if kind == "json" then redis.call("JSON.GET", KEYS[i], ".version") end
            if kind == "del" then return del(KEYS[i], ARGV[b + 1]) end
            return set(KEYS[i], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4])
          end)
          if not ok then
            if type(result) == "table" then result = result.err end
            result = tostring(result)
          end
          results[i] = result
        end
        return results
        """;

    private const string GetScript = """
        local v = redis.call("HMGET", KEYS[1], "data", "version")
        if not v[2] then return nil end
        return {v[1] or "", v[2], redis.call("PTTL", KEYS[1])}
        """;

    /// <summary>state.redis's own keys besides <see cref="RedisConnector.Keys"/> (settings.go mdonly state; metadata.yaml
    /// lists redeliverInterval and processingTimeout too, which the store ignores).</summary>
    public static readonly IReadOnlyList<string> Keys = ["ttlInSeconds", "queryIndexes", "redeliverInterval", "processingTimeout"];

    private readonly RedisConnector _connector;
    private readonly Task<ConnectionMultiplexer> _connection;
    private readonly long? _componentTtl;

    public RedisStateStore(ComponentSpec spec, ILogger logger)
    {
        Spec = spec;
        _connector = new RedisConnector(spec, logger);
        _componentTtl = spec.GetLong("ttlInSeconds");
        _connection = _connector.ConnectAsync("state", reportUnreachable: false);
    }

    public ComponentSpec Spec { get; }

    public string Server => "Redis";
    public string Address => _connector.Host;
    public string StartCommand => _connector.StartCommand;

    public Task InitAsync(CancellationToken cancellationToken) => _connector.PingAsync(_connection, "redis store", cancellationToken);
    public IReadOnlyList<string> Features => ["ETAG", "TRANSACTIONAL", "TTL", "ACTOR"];

    public async Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var result = await RunAsync(db => db.ScriptEvaluateAsync(GetScript, [key]), cancellationToken);
        if (result.IsNull) return null;
        var parts = (RedisResult[])result!;
        var ttlMs = (long)parts[2];
        return new StoredItem((byte[])parts[0]! ?? [], (string)parts[1]!, ttlMs >= 0 ? DateTimeOffset.UtcNow.AddMilliseconds(ttlMs) : null);
    }

    public async Task WriteAsync(StateWrite write, CancellationToken cancellationToken)
    {
        if (write.IsDelete)
        {
            if (await RunScriptAsync([Delete(write)], ttlAlways: false, cancellationToken) is { } failed)
                throw new ETagException(ETagErrorKind.Mismatch, failed);
            return;
        }
        var operation = Set(write, firstWriteMark: write.Concurrency == Concurrency.FirstWrite, json: false);
        if (await RunScriptAsync([operation], ttlAlways: false, cancellationToken) is { } error)
            throw write.HasETag ? new ETagException(ETagErrorKind.Mismatch, error) : new StateStoreException($"failed to set key {write.Key}: {error}");
    }

    public async Task MultiAsync(IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        // ETags and TTLs are parsed before anything is sent, so such an error applies nothing.
        var operations = writes.Select(w => w.IsDelete
            ? Delete(w) with { Json = IsJson(w) }
            : Set(w, firstWriteMark: false, json: IsJson(w))).ToList();
        if (await RunScriptAsync(operations, ttlAlways: true, cancellationToken) is { } error)
            throw new StateStoreException(error);
    }

    private sealed record Operation(string Key, string Kind, string Version, byte[] Value, bool FirstWriteMark, string Ttl, bool Json = false);

    private static bool IsJson(StateWrite write) => write.Metadata.GetValueOrDefault("contentType") == "application/json";

    private static Operation Delete(StateWrite write) => new(write.Key, "del", write.HasETag ? write.ETag! : "0", [], false, "");

    private Operation Set(StateWrite write, bool firstWriteMark, bool json)
    {
        var version = "0";
        if (write.Concurrency != Concurrency.LastWrite && write.HasETag)
        {
            if (!long.TryParse(write.ETag, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                throw new ETagException(ETagErrorKind.Invalid, $"strconv.Atoi: parsing \"{write.ETag}\": invalid syntax");
            version = parsed.ToString(CultureInfo.InvariantCulture);
        }
        long? ttl;
        try
        {
            ttl = write.TtlSeconds ?? _componentTtl;
        }
        catch (StateStoreException e)
        {
            throw new StateStoreException($"failed to parse ttl from metadata: {e.Message}");
        }
        return new Operation(write.Key, "set", version, write.Value!, firstWriteMark, ttl?.ToString(CultureInfo.InvariantCulture) ?? "", json);
    }

    /// <summary>Runs the operations; returns the first failure as Redis reports a script error, or null.</summary>
    private async Task<string?> RunScriptAsync(IReadOnlyList<Operation> operations, bool ttlAlways, CancellationToken cancellationToken)
    {
        if (operations.Count == 0) return null;
        var keys = operations.Select(o => (RedisKey)o.Key).ToArray();
        var args = new List<RedisValue> { ttlAlways ? "1" : "0" };
        foreach (var o in operations)
            args.AddRange([o.Json ? "json" : o.Kind, o.Version, o.Value, o.FirstWriteMark ? "0" : "1", o.Ttl, ""]);
        var result = await RunAsync(db => db.ScriptEvaluateAsync(WriteScript, keys, args.ToArray()), cancellationToken);
        var failure = ((RedisResult[])result!).Select(r => (string?)r).FirstOrDefault(r => !string.IsNullOrEmpty(r));
        return failure is null ? null : failure.StartsWith("ERR", StringComparison.Ordinal) ? failure : "ERR " + failure;
    }

    private async Task<RedisResult> RunAsync(Func<IDatabase, Task<RedisResult>> command, CancellationToken cancellationToken)
    {
        try
        {
            var db = (await _connection).GetDatabase(_connector.Database);
            return await command(db).WaitAsync(cancellationToken);
        }
        catch (Exception e) when (RedisConnector.IsConnectionProblem(e))
        {
            throw _connector.Unreachable(e);
        }
    }

    public async ValueTask DisposeAsync() => await (await _connection).DisposeAsync();
}
