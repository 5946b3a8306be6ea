namespace DevSidecar.Resources;

/// <summary>
/// What a misspelt key was probably meant to be: one rule for the warnings on resource files (metadata keys, fields)
/// and on the runner's run file, so "did you mean" means the same everywhere.
/// </summary>
public static class Spelling
{
    /// <summary>
    /// The candidate nearest to <paramref name="key"/> (case-insensitive; ties go to the first by name), and whether it
    /// is near enough to be a typo: within a third of the key's length ("redisHots", "processingTimout", "comand").
    /// Null when there is no candidate.
    /// </summary>
    public static (string Candidate, bool IsTypo)? Nearest(string key, IEnumerable<string> candidates)
    {
        var nearest = candidates
            .Select(candidate => (candidate, distance: Distance(key.ToLowerInvariant(), candidate.ToLowerInvariant())))
            .OrderBy(c => c.distance).ThenBy(c => c.candidate, StringComparer.Ordinal)
            .FirstOrDefault();
        return nearest.candidate is null ? null : (nearest.candidate, nearest.distance <= Math.Max(1, key.Length / 3));
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
