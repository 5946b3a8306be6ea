using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Dapr;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>
/// The dev sidecar's own graceful shutdown, as daprd's (dapr/dapr@d8450742 pkg/runtime/runtime.go Run,
/// pkg/runtime/subscription/subscription.go Stop; https://docs.dapr.io/reference/arguments-annotations-overview/): stop
/// taking messages first, wait for the delivery in flight while the Dapr API stays up for the app, and make every caller
/// of StopAsync wait for that same drain.
/// </summary>
public sealed class SidecarShutdownTests
{
    [Fact]
    public async Task Stop_takes_no_new_message_waits_for_the_one_in_flight_and_keeps_the_api_up_meanwhile()
    {
        await using var cluster = new Cluster("local");
        var app = await cluster.StartAsync("slow", GatedApp.Build);
        var gated = app.Service<GatedApp>();

        foreach (var id in new[] { "m1", "m2" })
            (await app.SidecarApi.PostAsJsonAsync("v1.0/publish/pubsub/slow", new { id })).StatusCode.Should().Be(HttpStatusCode.NoContent);
        await Wait.UntilAsync(() => gated.Started.Count == 1, "the first delivery to start", Wait.EndToEndTimeout);

        var stop = app.Sidecar.StopAsync();
        var secondStop = app.Sidecar.StopAsync();
        // A negative check needs a window: within it, neither stop may end while the delivery is held.
        var first = await Task.WhenAny(stop, secondStop, Task.Delay(300));
        first.Should().NotBeSameAs(stop, "the delivery in flight is waited for");
        first.Should().NotBeSameAs(secondStop, "a second caller waits for the same drain");

        gated.Gate.SetResult();
        await Task.WhenAll(stop, secondStop).WaitAsync(TimeSpan.FromSeconds(10));

        gated.Finished.Should().Equal(["m1"]);
        gated.StateSaveStatus.Should().Be(HttpStatusCode.NoContent, "the Dapr API is still up while the delivery drains");
        gated.Started.Should().Equal(["m1"], "m2 was not taken once the stop began");
    }

    /// <summary>An app whose subscriber holds each delivery until the test opens the gate, then calls the sidecar's state API.</summary>
    private sealed class GatedApp
    {
        public ConcurrentQueue<string> Started { get; } = new();
        public ConcurrentQueue<string> Finished { get; } = new();
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public HttpStatusCode? StateSaveStatus { get; private set; }

        public sealed record Message(string Id);

        public static WebApplication Build(string[] args)
        {
            var builder = WebApplication.CreateBuilder(args);
            builder.WebHost.UseUrls($"http://127.0.0.1:{builder.Configuration["APP_PORT"]}");
            builder.Services.AddSingleton<GatedApp>();
            var app = builder.Build();
            app.UseCloudEvents();
            app.MapSubscribeHandler();
            var sidecar = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{app.Configuration["DAPR_HTTP_PORT"]}/") };
            app.MapPost("/slow", async (Message message, GatedApp state) =>
            {
                state.Started.Enqueue(message.Id);
                await state.Gate.Task;
                var saved = await sidecar.PostAsJsonAsync("v1.0/state/statestore", new[] { new { key = message.Id, value = "done" } });
                state.StateSaveStatus = saved.StatusCode;
                state.Finished.Enqueue(message.Id);
                return Results.Ok();
            }).WithTopic("pubsub", "slow");
            return app;
        }
    }
}
