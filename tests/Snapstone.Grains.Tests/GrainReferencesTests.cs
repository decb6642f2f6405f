namespace Snapstone.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class GrainReferencesTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_reference_by_key_is_the_same_grain_as_orleans_own()
    {
        var node = Testing.TestStorage.Unique("node");

        var own = fixture.Client.GetGrain<INodeHealthGrain>(node);
        var byKey = fixture.Client.ByKey<INodeHealthGrain>(node);

        Assert.Equal(((GrainReference)own).GrainId, ((GrainReference)byKey).GrainId);
        Assert.Equal(((GrainReference)own).InterfaceType, ((GrainReference)byKey).InterfaceType);
        Assert.Null(await byKey.GetView()); // a node that never reported: the call reaches the real grain
        Assert.Throws<ArgumentException>(() => fixture.Client.ByKey<INodeHealthGrain>(" "));
    }
}
