using Intake.Core.Model;

namespace Intake.Catalog.Tests;

/// <summary>Step checkpoints (the HTTP pull's progress), on both databases.</summary>
public abstract partial class CatalogComplianceTests
{
    [CatalogFact]
    public async Task Checkpoint_SavedTwice_KeepsTheLastStateAndSurvivesAReopen()
    {
        var load = (await Catalog.RegisterLoadAsync(new NewLoad("api", "acme", "charge/2024-01-01", "day"), CancellationToken.None)).Load;

        (await Catalog.GetCheckpointAsync(load.Id, "pull", CancellationToken.None)).ShouldBeNull();
        await Catalog.SaveCheckpointAsync(load.Id, "pull", "{\"Parts\":1}", CancellationToken.None);
        await Catalog.SaveCheckpointAsync(load.Id, "pull", "{\"Parts\":2}", CancellationToken.None);

        (await Open().GetCheckpointAsync(load.Id, "pull", CancellationToken.None)).ShouldBe("{\"Parts\":2}");
        (await Catalog.GetCheckpointAsync(load.Id, "other", CancellationToken.None)).ShouldBeNull();
    }

    [CatalogFact]
    public async Task Checkpoint_Deleted_IsGoneAndDeletingAgainIsNoError()
    {
        var load = (await Catalog.RegisterLoadAsync(new NewLoad("api", "acme", "charge/2024-01-02", "day"), CancellationToken.None)).Load;
        await Catalog.SaveCheckpointAsync(load.Id, "pull", "{}", CancellationToken.None);

        await Catalog.DeleteCheckpointAsync(load.Id, "pull", CancellationToken.None);
        await Catalog.DeleteCheckpointAsync(load.Id, "pull", CancellationToken.None);

        (await Catalog.GetCheckpointAsync(load.Id, "pull", CancellationToken.None)).ShouldBeNull();
    }
}
