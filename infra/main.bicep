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

@description('Python version of the Functions worker: one the project tests (3.11, the oldest, or 3.13).')
@allowed([
  '3.11'
  '3.13'
])
param pythonVersion string = '3.11'

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
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
