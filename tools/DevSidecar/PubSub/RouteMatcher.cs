using System.Globalization;
using System.Text.Json;

namespace DevSidecar.PubSub;

/// <summary>
/// The part of CEL that subscription rules use in practice: <c>event.a.b</c> paths, string / number / bool / null
/// literals, <c>== != &lt; &lt;= &gt; &gt;=</c>, <c>&amp;&amp; || !</c> and parentheses. Anything else is rejected when the
/// subscription is loaded, with the expression in the message, rather than silently never matching.
/// </summary>
public sealed class RouteMatcher
{
    private readonly Func<JsonElement, object?> _evaluate;
    private RouteMatcher(Func<JsonElement, object?> evaluate) => _evaluate = evaluate;

    public static RouteMatcher Compile(string expression)
    {
        var parser = new Parser(expression);
        var evaluate = parser.ParseOr();
        parser.ExpectEnd();
        return new RouteMatcher(evaluate);
    }

    public bool Matches(JsonElement cloudEvent) => _evaluate(cloudEvent) is true;

    private sealed class Parser(string text)
    {
        private int _pos;

        public void ExpectEnd()
        {
            SkipSpace();
            if (_pos < text.Length) throw Error($"unexpected '{text[_pos..]}'");
        }

        public Func<JsonElement, object?> ParseOr()
        {
            var left = ParseAnd();
            while (Take("||"))
            {
                var l = left; var r = ParseAnd();
                left = e => l(e) is true || r(e) is true;
            }
            return left;
        }

        private Func<JsonElement, object?> ParseAnd()
        {
            var left = ParseComparison();
            while (Take("&&"))
            {
                var l = left; var r = ParseComparison();
                left = e => l(e) is true && r(e) is true;
            }
            return left;
        }

        private Func<JsonElement, object?> ParseComparison()
        {
            var left = ParseUnary();
            foreach (var op in new[] { "==", "!=", "<=", ">=", "<", ">" })
            {
                if (!Take(op)) continue;
                var l = left; var r = ParseUnary();
                return e => Compare(op, l(e), r(e));
            }
            return left;
        }

        private Func<JsonElement, object?> ParseUnary()
        {
            if (Take("!"))
            {
                var inner = ParseUnary();
                return e => inner(e) is bool b ? !b : null;
            }
            if (Take("("))
            {
                var inner = ParseOr();
                if (!Take(")")) throw Error("missing ')'");
                return inner;
            }
            return ParseValue();
        }

        private Func<JsonElement, object?> ParseValue()
        {
            SkipSpace();
            if (_pos >= text.Length) throw Error("unexpected end");
            var c = text[_pos];
            if (c is '"' or '\'')
            {
                var end = text.IndexOf(c, _pos + 1);
                if (end < 0) throw Error("unterminated string");
                var literal = text[(_pos + 1)..end];
                _pos = end + 1;
                return _ => literal;
            }
            if (char.IsDigit(c) || c == '-')
            {
                var start = _pos++;
                while (_pos < text.Length && (char.IsDigit(text[_pos]) || text[_pos] == '.')) _pos++;
                var number = double.Parse(text[start.._pos], CultureInfo.InvariantCulture);
                return _ => number;
            }
            var identStart = _pos;
            while (_pos < text.Length && (char.IsLetterOrDigit(text[_pos]) || text[_pos] is '_' or '.')) _pos++;
            var ident = text[identStart.._pos];
            switch (ident)
            {
                case "true": return _ => true;
                case "false": return _ => false;
                case "null": return _ => null;
            }
            if (!ident.StartsWith("event.", StringComparison.Ordinal)) throw Error($"unsupported term '{(ident.Length > 0 ? ident : text[_pos..])}'");
            var path = ident["event.".Length..].Split('.');
            return e => Lookup(e, path);
        }

        private static object? Lookup(JsonElement element, string[] path)
        {
            foreach (var segment in path)
            {
                if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(segment, out element)) return null;
            }
            return element.ValueKind switch
            {
                JsonValueKind.String => element.GetString(),
                JsonValueKind.Number => element.GetDouble(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => null,
            };
        }

        private static object? Compare(string op, object? left, object? right) => op switch
        {
            "==" => Equals(left, right),
            "!=" => !Equals(left, right),
            _ when left is double a && right is double b => op switch { "<" => a < b, "<=" => a <= b, ">" => a > b, _ => a >= b },
            _ when left is string a && right is string b => op switch
            {
                "<" => string.CompareOrdinal(a, b) < 0, "<=" => string.CompareOrdinal(a, b) <= 0,
                ">" => string.CompareOrdinal(a, b) > 0, _ => string.CompareOrdinal(a, b) >= 0,
            },
            _ => null,
        };

        private bool Take(string token)
        {
            SkipSpace();
            if (string.CompareOrdinal(text, _pos, token, 0, token.Length) != 0) return false;
            // "!" must not swallow the first character of "!=", nor "<" of "<=".
            if (token is "!" or "<" or ">" && _pos + 1 < text.Length && text[_pos + 1] == '=') return false;
            _pos += token.Length;
            return true;
        }

        private void SkipSpace()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
        }

        private FormatException Error(string what) => new($"unsupported match expression '{text}': {what}");
    }
}
