using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using DevSidecar.Hosting;

namespace DevSidecar.Invocation;

/// <summary>Where a sidecar can be reached by other sidecars, and the secret that proves a call came from one.</summary>
public sealed record SidecarEntry(string AppId, string Namespace, int HttpPort, int ProcessId, string InternalToken);

/// <summary>
/// Name resolution for the dev sidecar, standing in for daprd's mDNS: each sidecar writes a small file into a
/// shared folder while it runs, so sidecars in other processes find it too. Several entries for one app id are
/// instances of that app; callers spread calls across them.
/// </summary>
public sealed class SidecarRegistry(string directory)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromMilliseconds(500);
    private readonly ConcurrentDictionary<string, (DateTime At, SidecarEntry[] Entries)> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _roundRobin = new(StringComparer.Ordinal);

    public string Register(SidecarEntry entry)
    {
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, $"{Uri.EscapeDataString(entry.AppId)}.{entry.HttpPort}.json");
        var temp = file + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(entry, SidecarJson.Default.SidecarEntry));
        File.Move(temp, file, overwrite: true);
        return file;
    }

    /// <summary>The next instance of <paramref name="appId"/>, round robin; null when none is running.</summary>
    public SidecarEntry? Next(string appId, bool refresh = false)
    {
        var entries = Instances(appId, refresh);
        if (entries.Length == 0) return null;
        var turn = _roundRobin.AddOrUpdate(appId, 0, (_, n) => unchecked(n + 1));
        return entries[(int)((uint)turn % entries.Length)];
    }

    public SidecarEntry[] Instances(string appId, bool refresh)
    {
        if (!refresh && _cache.TryGetValue(appId, out var cached) && DateTime.UtcNow - cached.At < CacheFor) return cached.Entries;
        var entries = Read(appId);
        _cache[appId] = (DateTime.UtcNow, entries);
        return entries;
    }

    private SidecarEntry[] Read(string appId)
    {
        if (!Directory.Exists(directory)) return [];
        var found = new List<SidecarEntry>();
        foreach (var file in Directory.EnumerateFiles(directory, $"{Uri.EscapeDataString(appId)}.*.json"))
        {
            try
            {
                var entry = JsonSerializer.Deserialize(File.ReadAllText(file), SidecarJson.Default.SidecarEntry);
                if (entry is null || entry.AppId != appId) continue;
                if (IsAlive(entry.ProcessId)) found.Add(entry);
                else File.Delete(file); // left behind by a process that was killed
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                // A file being replaced or removed right now: skip it this time.
            }
        }
        return [.. found.OrderBy(e => e.HttpPort)];
    }

    private static bool IsAlive(int processId)
    {
        if (processId == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
