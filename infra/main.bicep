// What `azd up` creates for the app: one resource group, and in it everything resources.bicep declares.
// Self-contained (no registry modules), so that it parses and is checked without a network.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; pick one that offers the Flex Consumption plan.')
param location string

// The versions both the app (3.11 to 3.13, CI tests 3.11 and 3.13) and Flex Consumption run. Azure Functions
// supports Python 3.10 to 3.14, and no version after 3.12 is added to Linux Consumption, only to the other plans
// (https://learn.microsoft.com/azure/azure-functions/supported-languages?pivots=programming-language-python).
// The Flex Consumption page's own table still stops at 3.12; what a region offers today:
// az functionapp list-flexconsumption-runtimes --location <region> --runtime python
@description('Python version of the Functions worker: 3.11 (the default, the oldest CI tests), 3.12 or 3.13 (the newest CI tests).')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.11'

// Durable Functions on Flex Consumption: keep one instance of the `durable` group (orchestrator, activity and
// entity triggers) always ready, so that a start is picked up without waiting for an instance to be created.
// https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#always-ready-instances
// Always-ready instances are billed while idle too (docs/deploying.md says what it costs); 0 turns them off.
@description('Always-ready instances of the durable group (orchestrations and activities); 0 for none, scaling from zero.')
@minValue(0)
@maxValue(100)
param alwaysReadyDurableInstances int = 1

@description('Durable Functions task hub; host.json reads it from DURABLE_TASK_HUB_NAME.')
param taskHubName string = 'SingletonHub'

var tags = {
  'azd-env-name': environmentName
}

resource resourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: resourceGroup
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    pythonVersion: pythonVersion
    taskHubName: taskHubName
    alwaysReadyDurableInstances: alwaysReadyDurableInstances
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
