namespace Docs.Tests;

/// <summary>What the walk-through comparison forgives (generated ids, times, Date/Server/traceparent) and what it does not.</summary>
public sealed class OutputTests
{
    [Fact]
    public void Ids_timestamps_times_and_date_server_and_traceparent_headers_are_normalized()
    {
        var doc = """
            HTTP/1.1 504 Gateway Timeout
            Date: Tue, 24 Nov 2026 02:58:11 GMT
            Server: Kestrel

            {"correlationId":"89475d37a9ad45a1ac00f1e197f4a34a","at":"2026-11-24T02:57:48.3086805+00:00","traceId":"00-fe8b7fa647fefb4c9c4e029b1ec7d685-0927f3332a1e20e4-01","elapsedMs":12}
            02:57:48.312 {"jobId":"2c1bb285-dceb-4132-8c45-053e1bf4e480"}
            """;
        var run = """
            HTTP/1.1 504 Gateway Timeout
            Server: Kestrel
            traceparent: 00-458f113b30b31418425b27bd616b177f-b61d97797ff6cbfe-01

            {"correlationId":"0123456789abcdef0123456789abcdef","at":"2026-12-01T19:37:27Z","traceId":"00-00000000000000000000000000000001-0000000000000002-01","elapsedMs":7}
            19:37:27.356 {"jobId":"00000000-0000-0000-0000-000000000001"}

            """;

        Output.Normalize(run).Should().Equal(Output.Normalize(doc));
    }

    [Theory]
    [InlineData("HTTP/1.1 202 Accepted", "HTTP/1.1 409 Conflict")]
    [InlineData("""{"status":"Completed","steps":["order-placed"]}""", """{"status":"Cancelled","steps":["order-placed"]}""")]
    [InlineData("""{"total":2.5}""", """{"total":2.50}""")]
    [InlineData("a\nb", "b\na")]
    public void Everything_else_must_match(string doc, string run) =>
        Output.Normalize(run).Should().NotEqual(Output.Normalize(doc));

    [Fact]
    public void The_diff_shows_the_doc_and_the_run_side_by_side()
    {
        var diff = Output.Diff(["same", "doc only"], ["same", "run only"]);

        diff.Should().Be("  same\n- doc only\n+ run only\n".Replace("\n", Environment.NewLine));
    }
}
