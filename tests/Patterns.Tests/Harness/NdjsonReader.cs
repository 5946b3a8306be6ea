using System.Text.Json;

namespace Patterns.Tests.Harness;

/// <summary>A line of an NDJSON stream and the moment the client read it.</summary>
public sealed record ReceivedLine(JsonElement Message, DateTimeOffset ReceivedAt)
{
    public string Type => Message.GetProperty("type").GetString()!;
    public DateTimeOffset SentAt => Message.GetProperty("at").GetDateTimeOffset();
    public override string ToString() => Message.GetRawText();
}

public static class NdjsonReader
{
    /// <summary>Opens a streamed GET and yields each line as it arrives (the response is not buffered).</summary>
    public static async IAsyncEnumerable<ReceivedLine> ReadLinesAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/x-ndjson");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length > 0) yield return new ReceivedLine(JsonDocument.Parse(line).RootElement.Clone(), DateTimeOffset.UtcNow);
        }
    }
}
