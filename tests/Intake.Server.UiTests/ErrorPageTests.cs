using System.Globalization;
using Intake.Server.Tests;
using Microsoft.Playwright;
using Npgsql;

namespace Intake.Server.UiTests;

/// <summary>
/// What the UI answers when there is no page: an unknown address (404), a form's address opened as a page (405), and
/// a server failure (500) are HTML pages in the UI's frame, with the status kept and, for a failure, the request id its
/// log line carries; the API keeps answering problems in JSON. Its own server and catalog (a table is renamed here).
/// </summary>
public sealed class ErrorPageTests : IClassFixture<UiFixture>
{
    private readonly UiFixture _ui;

    public ErrorPageTests(UiFixture ui) => _ui = ui;

    private static async Task<string> ContentTypeAsync(IResponse response) => (await response.HeaderValueAsync("content-type"))!;

    [UiFact]
    public async Task UnknownPage_Answers404_AsAPageInTheUiFrame_SignedInOrNot_WhileTheApiAnswersJson()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeRead);
        var response = (await page.GotoAsync("/ui/no-such-page"))!;
        response.Status.ShouldBe(404);
        (await ContentTypeAsync(response)).ShouldStartWith("text/html");
        (await page.Locator("h1").TextContentAsync()).ShouldBe("Not found");
        (await page.GetByTestId("status-message").TextContentAsync()).ShouldBe("There is no page at /ui/no-such-page.");
        (await page.GetByTestId("customer").TextContentAsync()).ShouldBe("acme"); // the frame of a signed-in page
        (await page.GetByRole(AriaRole.Navigation, new() { Name = "Sections" }).IsVisibleAsync()).ShouldBeTrue();

        var anonymous = await _ui.NewPageAsync();
        var unknown = (await anonymous.GotoAsync("/ui/loads/not-a-number/at-all"))!;
        unknown.Status.ShouldBe(404);
        (await ContentTypeAsync(unknown)).ShouldStartWith("text/html");
        (await anonymous.Locator("h1").TextContentAsync()).ShouldBe("Not found");

        using var client = _ui.Serve.Client(_ui.AcmeRead);
        var (status, body, api) = await client.GetJsonAsync("/api/v1/no-such-thing");
        status.ShouldBe(404);
        api.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        body.GetProperty("detail").GetString()!.ShouldContain("no endpoint answers GET /api/v1/no-such-thing");
    }

    [UiFact]
    public async Task AFormsAddressOpenedAsAPage_Answers405_AsAPage_AndAPostToAPage_Too()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeWrite);
        var id = _ui.OrdersErrored.ToString(CultureInfo.InvariantCulture);
        var response = (await page.GotoAsync($"/ui/loads/{id}/redrive"))!;
        response.Status.ShouldBe(405);
        (await ContentTypeAsync(response)).ShouldStartWith("text/html");
        (await response.HeaderValueAsync("allow"))!.ShouldContain("POST");
        (await page.Locator("h1").TextContentAsync()).ShouldBe("Not a page");
        (await page.GetByTestId("status-message").TextContentAsync())!.ShouldContain("the address of a form's button");
        (await page.GetByTestId("customer").TextContentAsync()).ShouldBe("acme");
        (await _ui.LoadAsync(_ui.OrdersErrored)).Status.ShouldBe(Core.Model.LoadStatus.Errored); // nothing was done

        var posted = await page.Context.APIRequest.PostAsync("/ui/loads", new() { Form = page.Context.APIRequest.CreateFormData().Set("x", "1") });
        posted.Status.ShouldBe(405);
        posted.Headers["content-type"].ShouldStartWith("text/html");
        (await posted.TextAsync()).ShouldContain("does not take a POST request");

        using var client = _ui.Serve.Client(_ui.AcmeWrite);
        var (status, _, api) = await client.GetJsonAsync($"/api/v1/loads/{id}/redrive");
        status.ShouldBe(405);
        api.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
    }

    [UiFact]
    public async Task AServerFailure_Answers500_AsAPageWithTheRequestIdOfItsLogLine_NeverTheErrorsText()
    {
        var page = await _ui.SignedInAsync(_ui.AcmeRead);
        // The exports page reads this table: without it the catalog fails with an error no one expects.
        await RenameAsync("intake_export_requests", "intake_export_requests_gone");
        try
        {
            var response = (await page.GotoAsync("/ui/exports"))!;
            response.Status.ShouldBe(500);
            (await ContentTypeAsync(response)).ShouldStartWith("text/html");
            (await page.Locator("h1").TextContentAsync()).ShouldBe("Server error");
            (await page.GetByTestId("customer").TextContentAsync()).ShouldBe("acme");
            var requestId = (await page.GetByTestId("request-id").TextContentAsync())!;
            requestId.ShouldNotBeNullOrWhiteSpace();
            var html = await page.ContentAsync();
            html.ShouldNotContain("intake_export_requests"); // the database's message
            html.ShouldNotContain("Exception");
            html.ShouldNotContain(" at Intake.");

            // The operator finds the failure in the log by that id.
            for (var i = 0; i < 50 && !_ui.Serve.Output.Contains(requestId, StringComparison.Ordinal); i++)
            {
                await Task.Delay(100);
            }

            _ui.Serve.Output.Split('\n').ShouldContain(l => l.Contains(requestId, StringComparison.Ordinal) && l.Contains("unhandled error on GET /ui/exports", StringComparison.Ordinal));

            using var client = _ui.Serve.Client(_ui.AcmeRead);
            var (status, body, api) = await client.GetJsonAsync("/api/v1/exports");
            status.ShouldBe(500);
            api.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            body.GetProperty("detail").GetString()!.ShouldContain("its log has the error");
        }
        finally
        {
            await RenameAsync("intake_export_requests_gone", "intake_export_requests");
        }
    }

    private async Task RenameAsync(string from, string to)
    {
        await using var connection = new NpgsqlConnection(_ui.Connection);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"ALTER TABLE {from} RENAME TO {to}", connection);
        await command.ExecuteNonQueryAsync();
    }
}
