using DevSidecar.Resources;
using Microsoft.Data.Sqlite;

namespace DevSidecar.State.Sqlite;

/// <summary>
/// Turns state.sqlite's <c>connectionString</c> (a file path or a <c>file:</c> URI, as the Go driver takes it) into a
/// Microsoft.Data.Sqlite connection string. Relative paths are relative to daprd's working directory (under the Dapr
/// CLI the app's appDirPath, so one file per app folder);
/// the parent folder is created (daprd's driver would fail on a missing one). Driver-specific query options such as
/// <c>_pragma</c> or <c>_txlock</c> are ignored: busy timeout, WAL and immediate transactions are set by the store.
/// </summary>
public static class SqliteLocation
{
    public static (string ConnectionString, bool InMemory) Resolve(ComponentSpec spec, TimeSpan timeout, string workingDirectory)
    {
        var raw = spec.Required("connectionString");
        var text = raw.StartsWith("file:", StringComparison.OrdinalIgnoreCase) ? raw["file:".Length..] : raw;
        var query = "";
        if (text.IndexOf('?') is var q and >= 0)
        {
            query = text[(q + 1)..];
            text = text[..q];
        }
        var options = query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? Uri.UnescapeDataString(p[1]) : "", StringComparer.OrdinalIgnoreCase);
        var mode = options.GetValueOrDefault("mode", "");
        var builder = new SqliteConnectionStringBuilder
        {
            DefaultTimeout = (int)Math.Ceiling(timeout.TotalSeconds),
            Pooling = true,
        };

        if (text is ":memory:" or "" || mode == "memory")
        {
            // A named shared-cache database lives as long as one connection to it is open (the store keeps one). Its
            // name is new per store, so it is per sidecar as daprd's in-process database is.
            builder.DataSource = $"devsidecar-{spec.Name}-{Guid.NewGuid():N}";
            builder.Mode = SqliteOpenMode.Memory;
            builder.Cache = SqliteCacheMode.Shared;
            return (builder.ToString(), true);
        }

        var path = Path.GetFullPath(Uri.UnescapeDataString(text), workingDirectory);
        builder.DataSource = path;
        builder.Mode = mode switch
        {
            "ro" => SqliteOpenMode.ReadOnly,
            "rw" => SqliteOpenMode.ReadWrite,
            _ => SqliteOpenMode.ReadWriteCreate,
        };
        if (builder.Mode == SqliteOpenMode.ReadWriteCreate && Path.GetDirectoryName(path) is { Length: > 0 } folder)
            Directory.CreateDirectory(folder);
        return (builder.ToString(), false);
    }
}
