using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DevSidecar.Resources;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace DevSidecar.State.Sqlite;

/// <summary>
/// state.sqlite: the embedded persistent store. One table with contrib's columns (key, value, is_binary, etag,
/// expiration_time, update_time); the ETag is a new uuid per write. Writes run in BEGIN IMMEDIATE transactions, so the
/// ETag check and the write are atomic and a transaction is all-or-nothing (as contrib's, components-contrib v1.17.6
/// state/sqlite/sqlite_dbaccess.go), also between sidecars (or processes)
/// sharing the file: WAL lets readers go on while one writes, and the busy timeout makes writers queue instead of failing.
/// Expired rows are treated as missing and removed lazily when read.
/// </summary>
public sealed partial class SqliteStateStore : IStateStore
{
    private const string TimeFormat = "yyyy-MM-dd HH:mm:ss.fff"; // UTC; orders like SQLite's CURRENT_TIMESTAMP text

    /// <summary>contrib's keys and their aliases (components-contrib v1.17.6 state/sqlite/sqlite_metadata.go,
    /// common/authentication/sqlite/metadata.go).</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "connectionString", "url", "timeout", "timeoutInSeconds", "busyTimeout", "disableWAL", "tableName", "metadataTableName",
        "cleanupInterval", "cleanupIntervalInSeconds",
    ];

    private readonly string _connectionString;
    private readonly string _table;
    private readonly int _busyTimeoutMs;
    private readonly SqliteConnection? _keepAlive;
    private readonly SemaphoreSlim _writers;

    /// <summary>One writer at a time per database file in this process. SQLite allows one anyway, and a writer that
    /// finds the file locked sleeps in its busy handler (1, 2, 5, 10… ms) although the lock is free again within one
    /// commit (well under a millisecond). So writers that would contend queue here, in order, instead. Other processes
    /// sharing the file still meet the busy timeout. Only latency changes, not what a write does: the order flow's
    /// handlers took a third of the time (docs/benchmarks.md). daprd's driver has no such queue; its writers sleep.</summary>
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> WritersByFile = new(StringComparer.Ordinal);

    public SqliteStateStore(ComponentSpec spec, string workingDirectory, ILogger logger)
    {
        Spec = spec;
        _table = spec.Get("tableName") is { Length: > 0 } table ? table : "state";
        if (!TableName().IsMatch(_table)) throw ComponentSpecValues.Invalid(spec, "tableName", $"'{_table}' is not a valid table name");
        _busyTimeoutMs = (int)spec.GetDuration("busyTimeout", TimeSpan.FromSeconds(2)).TotalMilliseconds;
        var (connectionString, inMemory) = SqliteLocation.Resolve(spec, spec.GetDuration("timeout", TimeSpan.FromSeconds(20)), workingDirectory);
        _connectionString = connectionString;
        _writers = WritersByFile.GetOrAdd(new SqliteConnectionStringBuilder(connectionString).DataSource, _ => new SemaphoreSlim(1, 1));
        try
        {
            using var connection = Open();
            if (!inMemory && !spec.GetBool("disableWAL", false)) Execute(connection, "PRAGMA journal_mode=WAL;");
            Execute(connection, $"""
                CREATE TABLE IF NOT EXISTS {_table} (
                  key TEXT NOT NULL PRIMARY KEY,
                  value TEXT NOT NULL,
                  is_binary BOOLEAN NOT NULL,
                  etag TEXT NOT NULL,
                  expiration_time TIMESTAMP DEFAULT NULL,
                  update_time TIMESTAMP NOT NULL
                );
                """);
            if (inMemory) _keepAlive = Open();
        }
        catch (SqliteException e)
        {
            throw ComponentSpecValues.Invalid(spec, "connectionString", $"cannot open the database: {e.Message}");
        }
        logger.LogInformation("{Component}: sqlite state in {DataSource}, table {Table}", spec.Name,
            new SqliteConnectionStringBuilder(connectionString).DataSource, _table);
    }

    public ComponentSpec Spec { get; }
    public IReadOnlyList<string> Features => ["ETAG", "TRANSACTIONAL", "TTL", "ACTOR"];

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex TableName();

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, $"PRAGMA busy_timeout = {_busyTimeoutMs};");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public async Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT value, is_binary, etag, expiration_time FROM {_table} WHERE key = $key";
        command.Parameters.AddWithValue("$key", key);
        StoredItem? item;
        DateTimeOffset? expires;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken)) return null;
            var text = reader.GetString(0);
            var value = reader.GetBoolean(1) ? Convert.FromBase64String(text) : Encoding.UTF8.GetBytes(text);
            expires = reader.IsDBNull(3) ? null : ParseTime(reader.GetString(3));
            item = new StoredItem(value, reader.GetString(2), expires);
        }
        if (expires is { } at && at <= DateTimeOffset.UtcNow)
        {
            await using var delete = connection.CreateCommand();
            delete.CommandText = $"DELETE FROM {_table} WHERE key = $key AND expiration_time <= $now";
            delete.Parameters.AddWithValue("$key", key);
            delete.Parameters.AddWithValue("$now", FormatTime(DateTimeOffset.UtcNow));
            await delete.ExecuteNonQueryAsync(cancellationToken);
            return null;
        }
        return item;
    }

    public async Task WriteAsync(StateWrite write, CancellationToken cancellationToken)
    {
        var ttl = Ttl(write);
        await using var connection = Open();
        await InTransactionAsync(connection, [(write, ttl)], cancellationToken);
    }

    /// <summary>contrib runs a Multi in one database transaction that stops at the first failing operation.</summary>
    public async Task MultiAsync(IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        if (writes.Count == 0) return;
        var withTtl = writes.Select(w => (w, Ttl(w))).ToList();
        await using var connection = Open();
        await InTransactionAsync(connection, withTtl, cancellationToken);
    }

    /// <summary>contrib's ParseTTL: an integer from -1 up; &lt;= 0 means no expiry.</summary>
    private static long? Ttl(StateWrite write)
    {
        if (write.IsDelete) return null;
        long? ttl;
        try
        {
            ttl = write.TtlSeconds;
        }
        catch (StateStoreException e)
        {
            throw new StateStoreException($"error parsing TTL: incorrect value for metadata 'ttlInSeconds': {e.Message}");
        }
        if (ttl is < -1 or > int.MaxValue)
            throw new StateStoreException("error parsing TTL: incorrect value for metadata 'ttlInSeconds': must be -1 or greater");
        return ttl > 0 ? ttl : null;
    }

    /// <summary>Checks and applies each write in order inside one BEGIN IMMEDIATE transaction; the first failure rolls all back.</summary>
    private async Task InTransactionAsync(SqliteConnection connection, IReadOnlyList<(StateWrite Write, long? Ttl)> writes, CancellationToken cancellationToken)
    {
        await _writers.WaitAsync(cancellationToken);
        try
        {
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken); // IMMEDIATE
            var now = DateTimeOffset.UtcNow;
            foreach (var (write, ttl) in writes)
            {
                await CheckAsync(connection, transaction, write, now, cancellationToken);
                await WriteAsync(connection, transaction, write, ttl, now, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        finally
        {
            _writers.Release();
        }
    }

    /// <summary>contrib's rules: a given ETag must match a live row (also under last-write; a delete's ETag checks
    /// the row whatever its expiry); first-write without an ETag fails on a live row, for an upsert only. Its ETag
    /// errors carry no cause.</summary>
    private async Task CheckAsync(SqliteConnection connection, SqliteTransaction transaction, StateWrite write, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = write.IsDelete
            ? $"SELECT etag FROM {_table} WHERE key = $key"
            : $"SELECT etag FROM {_table} WHERE key = $key AND (expiration_time IS NULL OR expiration_time > $now)";
        command.Parameters.AddWithValue("$key", write.Key);
        command.Parameters.AddWithValue("$now", FormatTime(now));
        var current = await command.ExecuteScalarAsync(cancellationToken) as string;
        var mismatch = write.HasETag
            ? current != write.ETag
            : write.Concurrency == Concurrency.FirstWrite && current is not null && !write.IsDelete;
        if (mismatch) throw new ETagException(ETagErrorKind.Mismatch);
    }

    private async Task WriteAsync(SqliteConnection connection, SqliteTransaction transaction, StateWrite write, long? ttl, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.Parameters.AddWithValue("$key", write.Key);
        if (write.IsDelete)
        {
            command.CommandText = $"DELETE FROM {_table} WHERE key = $key";
        }
        else
        {
            command.CommandText = $"""
                INSERT INTO {_table} (key, value, is_binary, etag, expiration_time, update_time)
                VALUES ($key, $value, $binary, $etag, $expires, $now)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, is_binary = excluded.is_binary, etag = excluded.etag,
                  expiration_time = excluded.expiration_time, update_time = excluded.update_time
                """;
            var binary = !IsJson(write.Value!);
            command.Parameters.AddWithValue("$value", binary ? Convert.ToBase64String(write.Value!) : Encoding.UTF8.GetString(write.Value!));
            command.Parameters.AddWithValue("$binary", binary);
            command.Parameters.AddWithValue("$etag", Guid.NewGuid().ToString());
            command.Parameters.AddWithValue("$expires", ttl is { } seconds ? FormatTime(now.AddSeconds(seconds)) : DBNull.Value);
            command.Parameters.AddWithValue("$now", FormatTime(now));
        }
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>JSON is stored as readable text (as contrib stores JSON values); anything else as base64.</summary>
    private static bool IsJson(byte[] value)
    {
        try
        {
            var reader = new Utf8JsonReader(value);
            while (reader.Read()) { }
            return value.Length > 0;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    public ValueTask DisposeAsync()
    {
        _keepAlive?.Dispose();
        return ValueTask.CompletedTask;
    }
}
