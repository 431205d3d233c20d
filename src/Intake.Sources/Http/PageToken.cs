using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Shared.Json;
namespace Intake.Sources.Http;

/// <summary>
/// Which page to ask for: the cursor (cursor style), the page number (page style) or the URL the previous page named
/// (next-link style). Serialised into the checkpoint, so a resumed pull asks for exactly the page it stopped in.
/// </summary>
public sealed record PageToken
{
    public string? Cursor { get; init; }
    public int? Page { get; init; }
    public string? NextUrl { get; init; }

    public static PageToken First(HttpSourceOptions config) => config.Pagination == PaginationStyle.Page ? new PageToken { Page = config.FirstPage } : new PageToken();

    /// <summary>
    /// The page after <paramref name="page"/>, or null when it was the last. Exactly once at the boundary: the API's cursor
    /// is exclusive, so the next page starts right after the last record read, never one further.
    /// </summary>
    public PageToken? Next(HttpSourceOptions config, JsonElement page, JsonElement records)
    {
        var count = records.GetArrayLength();
        bool? hasMore = config.HasMorePath is { } hm && JsonPaths.Find(page, hm) is { } flag
            ? flag.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw IntakeException.Format($"'{hm}' in the response is {flag.ValueKind.ToString().ToLowerInvariant()}, not true or false"),
            }
            : null;
        switch (config.Pagination)
        {
            case PaginationStyle.Cursor:
                if (count == 0 || !(hasMore ?? count >= config.PageSize))
                {
                    return null;
                }

                var last = records[count - 1];
                var cursor = last.ValueKind == JsonValueKind.Object && JsonPaths.Find(last, config.CursorField) is { } c
                    ? JsonText.Of(c)
                    : null;
                if (string.IsNullOrEmpty(cursor))
                {
                    throw IntakeException.Format($"the last record of a page has no '{config.CursorField}' to continue from (pagination.cursor_field)");
                }

                if (cursor == Cursor)
                {
                    throw IntakeException.Format($"the API returned a page ending at the cursor it was given ('{cursor}'); stopping rather than looping");
                }

                return new PageToken { Cursor = cursor };
            case PaginationStyle.Page:
                return count == 0 || !(hasMore ?? count >= config.PageSize) ? null : new PageToken { Page = (Page ?? config.FirstPage) + 1 };
            default:
                var link = JsonPaths.Find(page, config.NextLinkPath) is { ValueKind: JsonValueKind.String } l ? l.GetString() : null;
                if (string.IsNullOrEmpty(link) || hasMore == false)
                {
                    return null;
                }

                if (link == NextUrl)
                {
                    throw IntakeException.Format("the API named the page just read as the next one; stopping rather than looping");
                }

                return new PageToken { NextUrl = link };
        }
    }

    public override string ToString() =>
        Cursor is not null ? $"after {Cursor}" : Page is { } p ? "page " + p.ToString(CultureInfo.InvariantCulture) : NextUrl is not null ? "next link" : "first page";
}

/// <summary>Dotted paths into a JSON document (<c>data</c>, <c>links.next</c>).</summary>
public static class JsonPaths
{
    public static JsonElement? Find(JsonElement root, string path)
    {
        var current = root;
        foreach (var part in path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(part, out current))
            {
                return null;
            }
        }

        return current;
    }
}
