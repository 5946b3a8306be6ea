using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>Every "not found" of the patterns app is problem details naming what was looked for, as in the order flow.</summary>
public sealed class ErrorAnswerTests
{
    [Fact]
    public async Task What_the_patterns_app_cannot_find_is_answered_with_problem_details_naming_it()
    {
        await using var cluster = new Cluster("local");
        var patterns = await cluster.StartPatternsAsync("a");
        var missing = $"missing-{Guid.NewGuid():N}";

        foreach (var path in new[] { $"jobs/{missing}", $"callback/inbox/{missing}", $"prices/replies/{missing}", $"work-items/{missing}" })
        {
            using var response = await patterns.Invoke.GetAsync(path);
            response.StatusCode.Should().Be(HttpStatusCode.NotFound, path);
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json", path);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            problem.GetProperty("detail").GetString().Should().Contain(missing, $"{path} says what it did not find");
        }
    }
}
