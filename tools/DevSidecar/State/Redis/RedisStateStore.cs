using System.Globalization;
using DevSidecar.Resources.Redis;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DevSidecar.State.Redis;

/// <summary>
/// state.redis. Each key is a hash {data, version} as in components-contrib, so real daprd reads the same data;
/// the ETag is the version, a counter bumped by every write. ETag, first-write and transaction checks run inside
/// one Lua script, so they are atomic against every other client. TTL is the key's expiry; a write without one
/// uses the component's <c>ttlInSeconds</c>, if set, else makes the key persistent.
/// A client ETag that is not the current version (a non-numeric one included) is a mismatch (409), not daprd's 400.
/// </summary>
public sealed class RedisStateStore : IStateStore
{
    // Per write: KEYS[i]; ARGV op ("set"|"del"), etag ("" = none), first-write ("1"|"0"), value, ttl ms ("" = none).
    // All checks pass before anything is written, so a batch is all-or-nothing.
    private const string ApplyScript = """
        local function mismatch(key) return redis.error_reply("ETAGMISMATCH " .. key) end
        for i = 1, #KEYS do
          local b = (i - 1) * 5
          local current = redis.call("HGET", KEYS[i], "version")
          local etag = ARGV[b + 2]
          if etag ~= "" then
            if (not current) or current ~= etag then return mismatch(KEYS[i]) end
          elseif ARGV[b + 3] == "1" and ARGV[b + 1] == "set" and current then
            return mismatch(KEYS[i])
          end
        end
        for i = 1, #KEYS do
          local b = (i - 1) * 5
          if ARGV[b + 1] == "del" then
            redis.call("DEL", KEYS[i])
          else
            redis.call("HSET", KEYS[i], "data", ARGV[b + 4])
            redis.call("HINCRBY", KEYS[i], "version", 1)
            if ARGV[b + 5] == "" then redis.call("PERSIST", KEYS[i]) else redis.call("PEXPIRE", KEYS[i], ARGV[b + 5]) end
          end
        end
        return 1
        """;

    private const string GetScript = """
        local v = redis.call("HMGET", KEYS[1], "data", "version")
        if not v[2] then return nil end
        return {v[1] or "", v[2], redis.call("PTTL", KEYS[1])}
        """;

    private readonly RedisConnector _connector;
    private readonly Task<ConnectionMultiplexer> _connection;
    private readonly TimeSpan? _defaultTtl;

    public RedisStateStore(ComponentSpec spec, ILogger logger)
    {
        Spec = spec;
        _connector = new RedisConnector(spec, logger);
        _defaultTtl = spec.GetLong("ttlInSeconds") is { } seconds and > 0 ? TimeSpan.FromSeconds(seconds) : null;
        _connection = _connector.ConnectAsync("state");
    }

    public ComponentSpec Spec { get; }
    public IReadOnlyList<string> Features => ["ETAG", "TRANSACTIONAL", "TTL", "ACTOR"];

    public async Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var result = await RunAsync(db => db.ScriptEvaluateAsync(GetScript, [key]), cancellationToken);
        if (result.IsNull) return null;
        var parts = (RedisResult[])result!;
        var ttlMs = (long)parts[2];
        return new StoredItem((byte[])parts[0]! ?? [], (string)parts[1]!, ttlMs >= 0 ? DateTimeOffset.UtcNow.AddMilliseconds(ttlMs) : null);
    }

    public async Task ApplyAsync(IReadOnlyList<StateWrite> writes, bool atomic, CancellationToken cancellationToken)
    {
        if (atomic) await RunBatchAsync(writes, cancellationToken);
        else foreach (var write in writes) await RunBatchAsync([write], cancellationToken);
    }

    private async Task RunBatchAsync(IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        if (writes.Count == 0) return;
        var keys = writes.Select(w => (RedisKey)w.Key).ToArray();
        var args = writes.SelectMany(Arguments).ToArray();
        try
        {
            await RunAsync(db => db.ScriptEvaluateAsync(ApplyScript, keys, args), cancellationToken);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("ETAGMISMATCH ", StringComparison.Ordinal))
        {
            throw new ETagMismatchException(e.Message["ETAGMISMATCH ".Length..]);
        }
    }

    private IEnumerable<RedisValue> Arguments(StateWrite write)
    {
        var ttl = write.Ttl ?? _defaultTtl;
        yield return write.IsDelete ? "del" : "set";
        yield return write.ETag ?? "";
        yield return write.Concurrency == Concurrency.FirstWrite ? "1" : "0";
        yield return write.Value ?? [];
        yield return ttl is { } t ? ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) : "";
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
