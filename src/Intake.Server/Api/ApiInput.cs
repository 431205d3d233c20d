using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Intake.Shared.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Intake.Server.Api;

/// <summary>
/// The one set of rules for what a client sends: query strings, path parameters and JSON bodies. Every endpoint
/// checks its inputs here, collects the problems in one dictionary (input name → messages) and answers 400 with
/// all of them at once (<see cref="Problems.Invalid"/>), so a limit or a message never differs between endpoints.
/// </summary>
internal static class ApiInput
{
    /// <summary>Names: pipelines, tables, customers, partitions, record ids, statuses, export types, path parameters.</summary>
    public const int MaxNameLength = 200;
    /// <summary>Object and source keys: a few folder levels and a file name.</summary>
    public const int MaxKeyLength = 1024;
    /// <summary>A note on an export request, stored with it and shown on every list.</summary>
    public const int MaxTagLength = 256;
    /// <summary>A time (ISO 8601) in a query string or a body.</summary>
    public const int MaxTimeLength = 64;
    /// <summary>Items of one array in a body (record ids, partitions, source keys).</summary>
    public const int MaxItems = 10_000;
    /// <summary>Items of one page of a list.</summary>
    public const int MaxLimit = 1000;
    public const string LimitDescription = "Items per page: a whole number from 1 to 1000.";
    public const string CursorDescription = "next_cursor of the previous page, unchanged; a cursor belongs to the list that returned it.";

    /// <summary>Cursors this API issues are far shorter; a longer one is not one of them.</summary>
    public const int MaxCursorLength = 512;

    /// <summary>
    /// The largest request body: 1 MiB holds an export request naming tens of thousands of record ids, the largest
    /// body the API takes. Kestrel enforces it while the body is read (413).
    /// </summary>
    public const long MaxBodyBytes = 1024 * 1024;

    /// <summary>Adds a message for <paramref name="name"/>; a second message for the same input is kept too.</summary>
    public static void Add(this Dictionary<string, string[]> errors, string name, string message) =>
        errors[name] = errors.TryGetValue(name, out var existing) ? [.. existing, message] : [message];

    /// <summary>The value for a message: quoted, and cut when long (the client sent it; it need not come back whole).</summary>
    public static string Quote(string value) => value.Length <= 60 ? $"'{value}'" : $"'{value[..40]}…' ({value.Length.ToString(CultureInfo.InvariantCulture)} characters)";

    /// <summary>Why <paramref name="value"/> is not acceptable text of at most <paramref name="max"/> characters, or null.</summary>
    public static string? TextProblem(string value, int max)
    {
        if (value.Length > max)
        {
            return $"is {value.Length.ToString(CultureInfo.InvariantCulture)} characters long; at most {max.ToString(CultureInfo.InvariantCulture)} characters are accepted";
        }

        var control = value.AsSpan().IndexOfAnyInRange('\u0000', '\u001f');
        if (control < 0)
        {
            control = value.IndexOf('\u007f', StringComparison.Ordinal);
        }

        return control >= 0
            ? $"contains a control character (U+{((int)value[control]).ToString("X4", CultureInfo.InvariantCulture)}) at character {(control + 1).ToString(CultureInfo.InvariantCulture)}"
            : null;
    }

    /// <summary>
    /// Why <paramref name="key"/> is not a key relative to its area or source root, or null. Refused: empty, too long,
    /// control characters, a backslash, an absolute path (<c>/x</c>, <c>C:</c>), <c>.</c> or <c>..</c> segments. The
    /// stores refuse these too, but only when a worker runs the load: here the client learns at once.
    /// </summary>
    public static string? KeyProblem(string key, int max = MaxKeyLength)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            return "must not be empty";
        }

        if (TextProblem(key, max) is { } text)
        {
            return text;
        }

        if (key.Contains('\\', StringComparison.Ordinal))
        {
            return $"{Quote(key)} contains a backslash; separate folders with '/'";
        }

        // A drive ("C:", "C:/x", "C:\\x") is absolute too; "s:1" is a name.
        if (key.StartsWith('/') || (key.Length >= 2 && char.IsAsciiLetter(key[0]) && key[1] == ':' && (key.Length == 2 || key[2] is '/' or '\\')))
        {
            return $"{Quote(key)} is an absolute path; give a key relative to the area or source root (e.g. 2026/01/ids.txt)";
        }

        foreach (var segment in key.Split('/'))
        {
            if (segment is "." or "..")
            {
                return $"{Quote(key)} contains a '{segment}' segment; give a key without '.' or '..' (it would point outside its area)";
            }
        }

        return null;
    }

    /// <summary>Checks an optional query-string value: null when absent or refused (the reason is in <paramref name="errors"/>).</summary>
    public static string? Text(Dictionary<string, string[]> errors, string name, string? value, int max = MaxNameLength)
    {
        if (value is null)
        {
            return null;
        }

        if (TextProblem(value, max) is { } problem)
        {
            errors.Add(name, problem);
            return null;
        }

        return value;
    }

    /// <summary>
    /// Every string route value (pipeline, table, partition …) as a name: at most <see cref="MaxNameLength"/>
    /// characters and the rules of <see cref="KeyProblem"/>. Kestrel leaves <c>%2F</c> encoded in the path, so
    /// it is decoded here first: <c>..%2F</c> is refused like <c>../</c>.
    /// </summary>
    public static Dictionary<string, string[]> RouteValueProblems(RouteValueDictionary values)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var (name, raw) in values)
        {
            if (raw is not string value)
            {
                continue;
            }

            var decoded = value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase).Replace("%5C", "\\", StringComparison.OrdinalIgnoreCase);
            if (KeyProblem(decoded, MaxNameLength) is { } problem)
            {
                errors.Add(name, problem);
            }
        }

        return errors;
    }

    /// <summary>The <c>limit</c> of a list: a whole number from 1 to <see cref="MaxLimit"/>, <paramref name="fallback"/> when absent.</summary>
    public static int Limit(Dictionary<string, string[]> errors, string? text, int fallback)
    {
        if (text is null)
        {
            return fallback;
        }

        if (text.Length <= 4 && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= MaxLimit)
        {
            return limit;
        }

        errors.Add("limit", $"{Quote(text)} is not a whole number from 1 to {MaxLimit.ToString(CultureInfo.InvariantCulture)}");
        return fallback;
    }

    /// <summary>
    /// An opaque cursor for the next page of <paramref name="list"/>: base64url of a JSON array of strings whose first
    /// item names the list, so a cursor of one list is refused by another.
    /// </summary>
    public static string NewCursor(string list, params string[] parts) =>
        Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes((string[])[list, .. parts]));

    /// <summary>
    /// The parts of a cursor <see cref="NewCursor"/> made for <paramref name="list"/> (null when absent). A cursor of
    /// another list, or anything else, is refused; <paramref name="valid"/> then checks the parts themselves (numbers
    /// and times in range), so no cursor can fail deeper down.
    /// </summary>
    public static string[]? Cursor(Dictionary<string, string[]> errors, string? text, string list, int parts, Func<string[], bool>? valid = null)
    {
        if (text is null)
        {
            return null;
        }

        string[]? decoded = null;
        try
        {
            if (text.Length <= MaxCursorLength)
            {
                decoded = JsonSerializer.Deserialize<string[]>(Base64Url.DecodeFromChars(text));
            }
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException or ArgumentException)
        {
            decoded = null;
        }

        if (decoded is not null && decoded.Length == parts + 1 && decoded[0] == list && decoded.All(p => p is not null) && (valid is null || valid(decoded[1..])))
        {
            return decoded[1..];
        }

        errors.Add("cursor", "is not a cursor this list returned; pass next_cursor of the previous page unchanged (a cursor belongs to the list that returned it)");
        return null;
    }

    /// <summary>Parses a whole number that a cursor carries.</summary>
    public static bool IsLong(string text, long min, long max) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max;

    /// <summary>
    /// Reads a JSON body of at most <see cref="MaxBodyBytes"/> (Kestrel stops a longer or slower one: 413, 408, 400
    /// answered by <c>RequestGuardMiddleware</c>). Undefined when the request has no body. Refuses, naming where:
    /// bytes that are not UTF-8, text that is not JSON, and any string (value or property name) that is not valid
    /// text or holds a control character, such as <c>\u0000</c> (PostgreSQL cannot store it).
    /// </summary>
    public static async Task<JsonElement> ReadJsonAsync(HttpRequest request, Dictionary<string, string[]> errors, string example, CancellationToken cancellationToken)
    {
        if (request.ContentLength is 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count == 0))
        {
            return default;
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        var bytes = new ReadOnlyMemory<byte>(buffer.GetBuffer(), 0, (int)buffer.Length);
        if (bytes.IsEmpty)
        {
            return default;
        }

        if (Utf8Check.FirstInvalid(bytes.Span) is { } bad)
        {
            errors.Add("body", $"is not valid UTF-8 at byte {bad.Index.ToString(CultureInfo.InvariantCulture)} (counted from 0); send the JSON encoded as UTF-8");
            return default;
        }

        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            // The reader's own reason ("'n' is an invalid start of a property name") without its position suffix, which counts from 0.
            var reason = e.Message.Split(" LineNumber:", 2)[0].Split(" Path:", 2)[0].TrimEnd('.', ' ');
            var line = (e.LineNumber ?? 0) + 1;
            var column = (e.BytePositionInLine ?? 0) + 1;
            errors.Add("body", $"not valid JSON at line {line.ToString(CultureInfo.InvariantCulture)}, byte {column.ToString(CultureInfo.InvariantCulture)} ({reason}); expected e.g. {example}");
            return default;
        }

        CheckStrings(root, "", "", errors);
        return errors.Count > 0 ? default : root;
    }

    /// <summary>Every string in the document decodes (no unpaired surrogate escape) and holds no control character; at most three messages per input.</summary>
    private static void CheckStrings(JsonElement element, string path, string prefix, Dictionary<string, string[]> errors)
    {
        var name = path.Length == 0 ? "body" : path;
        if (errors.TryGetValue(name, out var already) && already.Length >= 3)
        {
            return;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string propertyName;
                    try
                    {
                        propertyName = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        errors.Add(name, $"{prefix}has a property name that is not valid text (an unpaired \\uD800-\\uDFFF escape)");
                        continue;
                    }

                    if (TextProblem(propertyName, MaxNameLength) is { } problem)
                    {
                        errors.Add(name, $"{prefix}property name {problem}");
                        continue;
                    }

                    CheckStrings(property.Value, path.Length == 0 ? propertyName : $"{path}.{propertyName}", prefix, errors);
                }

                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    index++;
                    CheckStrings(item, path, $"{prefix}item {index.ToString(CultureInfo.InvariantCulture)}: ", errors);
                }

                break;
            case JsonValueKind.String:
                string? text;
                try
                {
                    text = element.GetString();
                }
                catch (InvalidOperationException)
                {
                    errors.Add(name, $"{prefix}is not valid text (an unpaired \\uD800-\\uDFFF escape)");
                    break;
                }

                if (text is not null && TextProblem(text, int.MaxValue) is { } control)
                {
                    errors.Add(name, prefix + control);
                }

                break;
        }
    }
}
