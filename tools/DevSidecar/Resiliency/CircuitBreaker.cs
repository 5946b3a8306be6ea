using System.Globalization;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Resiliency;

/// <summary>
/// A circuit breaker policy (pkg/resiliency/breaker/circuitbreaker.go, on sony/gobreaker v0.5.0): <c>maxRequests</c>
/// (default 1) calls may pass while half-open; <c>interval</c> (default 0: never) clears the counts while closed;
/// <c>timeout</c> (default 60s) is how long it stays open; <c>trip</c> (default <c>consecutiveFailures &gt; 5</c>) is
/// evaluated after each failure while closed.
/// </summary>
public sealed record CircuitBreakerPolicy(string Name, uint MaxRequests, TimeSpan Interval, TimeSpan Timeout, TripExpression? Trip)
{
    public static CircuitBreakerPolicy Parse(string name, Dictionary<object, object> spec)
    {
        var maxRequests = YamlValues.Str(spec, "maxRequests") is { } text
            ? uint.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException($"maxRequests '{text}' is not a count")
            : 0;
        TimeSpan Duration(string key) => YamlValues.Str(spec, key) is { } value
            ? ResiliencyResource.ParseDuration(value) ?? throw new FormatException($"{key} '{value}' is not a duration")
            : TimeSpan.Zero;
        var trip = YamlValues.Str(spec, "trip") is { } expression ? TripExpression.Parse(expression) : null;
        return new CircuitBreakerPolicy(name, maxRequests, Duration("interval"), Duration("timeout"), trip);
    }
}

/// <summary>One breaker's state (gobreaker's state machine); daprd keeps one per component and one per app endpoint.</summary>
public sealed class CircuitBreaker(string name, CircuitBreakerPolicy policy, ILogger logger)
{
    public enum State { Closed, HalfOpen, Open }

    public sealed record Counts(long Requests, long TotalSuccesses, long TotalFailures, long ConsecutiveSuccesses, long ConsecutiveFailures);

    private readonly Lock _lock = new();
    private readonly uint _maxRequests = policy.MaxRequests == 0 ? 1 : policy.MaxRequests;
    private readonly TimeSpan _timeout = policy.Timeout <= TimeSpan.Zero ? TimeSpan.FromSeconds(60) : policy.Timeout;
    private State _state = State.Closed;
    private long _generation;
    private Counts _counts = new(0, 0, 0, 0, 0);
    private DateTime _expiry = policy.Interval > TimeSpan.Zero ? DateTime.UtcNow + policy.Interval : DateTime.MinValue;

    /// <summary>gobreaker's errors, the texts daprd's callers see (e.g. "failed to invoke, id: x, err: circuit breaker is open").</summary>
    public const string OpenMessage = "circuit breaker is open";
    public const string TooManyRequestsMessage = "too many requests";

    public State Current
    {
        get { lock (_lock) return CurrentState(DateTime.UtcNow); }
    }

    /// <summary>Runs <paramref name="operation"/> unless open (or half-open and full); throws <see cref="CircuitBreakerOpenException"/> then.</summary>
    public async Task<T> ExecuteAsync<T>(Func<Task<T>> operation)
    {
        long generation;
        lock (_lock)
        {
            var state = CurrentState(DateTime.UtcNow);
            if (state == State.Open) throw new CircuitBreakerOpenException(OpenMessage);
            if (state == State.HalfOpen && _counts.Requests >= _maxRequests) throw new CircuitBreakerOpenException(TooManyRequestsMessage);
            _counts = _counts with { Requests = _counts.Requests + 1 };
            generation = _generation;
        }
        try
        {
            var result = await operation();
            After(generation, success: true);
            return result;
        }
        catch
        {
            After(generation, success: false);
            throw;
        }
    }

    private void After(long before, bool success)
    {
        lock (_lock)
        {
            var now = DateTime.UtcNow;
            var state = CurrentState(now);
            if (_generation != before) return;
            if (success)
            {
                _counts = _counts with { TotalSuccesses = _counts.TotalSuccesses + 1, ConsecutiveSuccesses = _counts.ConsecutiveSuccesses + 1, ConsecutiveFailures = 0 };
                if (state == State.HalfOpen && _counts.ConsecutiveSuccesses >= _maxRequests) SetState(State.Closed, now);
            }
            else
            {
                _counts = _counts with { TotalFailures = _counts.TotalFailures + 1, ConsecutiveFailures = _counts.ConsecutiveFailures + 1, ConsecutiveSuccesses = 0 };
                if (state == State.HalfOpen || (state == State.Closed && ReadyToTrip(_counts))) SetState(State.Open, now);
            }
        }
    }

    private bool ReadyToTrip(Counts counts) => policy.Trip is { } trip ? trip.Evaluate(counts) : counts.ConsecutiveFailures > 5;

    private State CurrentState(DateTime now)
    {
        if (_state == State.Closed && _expiry != DateTime.MinValue && _expiry < now) NewGeneration(now);
        else if (_state == State.Open && _expiry < now) SetState(State.HalfOpen, now);
        return _state;
    }

    private void SetState(State state, DateTime now)
    {
        if (_state == state) return;
        var previous = _state;
        _state = state;
        NewGeneration(now);
        logger.LogInformation("Circuit breaker \"{Name}\" changed state from {From} to {To}", name, Name(previous), Name(state));
    }

    private void NewGeneration(DateTime now)
    {
        _generation++;
        _counts = new Counts(0, 0, 0, 0, 0);
        _expiry = _state switch
        {
            State.Closed => policy.Interval > TimeSpan.Zero ? now + policy.Interval : DateTime.MinValue,
            State.Open => now + _timeout,
            _ => DateTime.MinValue,
        };
    }

    private static string Name(State state) => state switch { State.Closed => "closed", State.HalfOpen => "half-open", _ => "open" };
}

/// <summary>The breaker refused the call: daprd's retry gives up at once on it (backoff.Permanent).</summary>
public sealed class CircuitBreakerOpenException(string message) : Exception(message);

/// <summary>
/// A circuit breaker's <c>trip</c>: daprd evaluates a CEL expression over requests, totalSuccesses, totalFailures,
/// consecutiveSuccesses and consecutiveFailures. The dev sidecar reads the forms the docs use: comparisons of those
/// names and whole numbers (<c>&gt; &gt;= &lt; &lt;= == !=</c>), joined with <c>&amp;&amp;</c>, <c>||</c>, <c>!</c> and
/// parentheses. Another expression stops start-up; an unknown name evaluates as an error, which never trips (as in daprd).
/// </summary>
public sealed class TripExpression
{
    private static readonly HashSet<string> Variables = ["requests", "totalSuccesses", "totalFailures", "consecutiveSuccesses", "consecutiveFailures"];
    private readonly Func<Counts, bool> _evaluate;

    private TripExpression(string text, Func<Counts, bool> evaluate)
    {
        Text = text;
        _evaluate = evaluate;
    }

    private sealed record Counts(CircuitBreaker.Counts Values);

    public string Text { get; }

    public bool Evaluate(CircuitBreaker.Counts counts)
    {
        try
        {
            return _evaluate(new Counts(counts));
        }
        catch (KeyNotFoundException)
        {
            return false;
        }
    }

    public static TripExpression Parse(string text)
    {
        var tokens = Tokenize(text);
        var position = 0;
        var expression = Or();
        if (position != tokens.Count) throw new FormatException($"trip '{text}': unexpected '{tokens[position]}'");
        return new TripExpression(text, expression);

        string? Peek() => position < tokens.Count ? tokens[position] : null;
        string Take() => position < tokens.Count ? tokens[position++] : throw new FormatException($"trip '{text}': unexpected end");

        Func<Counts, bool> Or()
        {
            var left = And();
            while (Peek() == "||")
            {
                Take();
                var (l, r) = (left, And());
                left = c => l(c) || r(c);
            }
            return left;
        }

        Func<Counts, bool> And()
        {
            var left = Unary();
            while (Peek() == "&&")
            {
                Take();
                var (l, r) = (left, Unary());
                left = c => l(c) && r(c);
            }
            return left;
        }

        Func<Counts, bool> Unary()
        {
            if (Peek() == "!")
            {
                Take();
                var inner = Unary();
                return c => !inner(c);
            }
            if (Peek() == "(")
            {
                Take();
                var inner = Or();
                if (Take() != ")") throw new FormatException($"trip '{text}': ')' expected");
                return inner;
            }
            var left = Operand();
            var op = Take();
            var right = Operand();
            return op switch
            {
                ">" => c => left(c) > right(c),
                ">=" => c => left(c) >= right(c),
                "<" => c => left(c) < right(c),
                "<=" => c => left(c) <= right(c),
                "==" => c => left(c) == right(c),
                "!=" => c => left(c) != right(c),
                _ => throw new FormatException($"trip '{text}': comparison expected, found '{op}'"),
            };
        }

        Func<Counts, long> Operand()
        {
            var token = Take();
            if (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)) return _ => number;
            if (!char.IsLetter(token[0])) throw new FormatException($"trip '{text}': a name or a number expected, found '{token}'");
            if (!Variables.Contains(token)) return _ => throw new KeyNotFoundException(token);
            return token switch
            {
                "requests" => c => c.Values.Requests,
                "totalSuccesses" => c => c.Values.TotalSuccesses,
                "totalFailures" => c => c.Values.TotalFailures,
                "consecutiveSuccesses" => c => c.Values.ConsecutiveSuccesses,
                _ => c => c.Values.ConsecutiveFailures,
            };
        }
    }

    private static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        for (var i = 0; i < text.Length;)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (char.IsLetterOrDigit(c) || c == '_')
            {
                var start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_')) i++;
                tokens.Add(text[start..i]);
                continue;
            }
            var two = i + 1 < text.Length ? text.Substring(i, 2) : "";
            if (two is ">=" or "<=" or "==" or "!=" or "&&" or "||")
            {
                tokens.Add(two);
                i += 2;
                continue;
            }
            if (c is '>' or '<' or '!' or '(' or ')')
            {
                tokens.Add(c.ToString());
                i++;
                continue;
            }
            throw new FormatException($"trip '{text}': unexpected '{c}'");
        }
        return tokens;
    }
}
