// The app's resources: a Flex Consumption function app on Linux that reaches its storage account and
// Application Insights with a user-assigned identity only (no keys, no connection strings with secrets).

param environmentName string
param location string
param tags object
param pythonVersion string
param taskHubName string
param alwaysReadyDurableInstances int

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'deployment-package'

// Built-in role definitions (the GUIDs are fixed by Azure and the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

// Flex Consumption scales the orchestrator, activity and entity triggers together as the `durable` group.
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#per-function-scaling
var durableAlwaysReady = [
  {
    name: 'durable'
    instanceCount: alwaysReadyDurableInstances
  }
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${resourceToken}'
  location: location
  tags: tags
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

// Local authentication off: telemetry is accepted only with an Entra token of the app's identity.
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches the account over its public endpoint; denying it needs a virtual network, which this template does not create
  // checkov:skip=CKV_AZURE_59: as above, public network access stays on for the app; every request still needs an Entra token (shared keys are off)
  // checkov:skip=CKV_AZURE_206: locally redundant storage keeps the locks and the task hub in one region with the app; pick ZRS or GRS for more
  // checkov:skip=CKV_AZURE_43: the name is 'st' and a 13-character uniqueString (lower-case letters and digits), which the check cannot evaluate
  name: 'st${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption runs the app from a package in this container.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption is offered in some regions only and needs zone-redundant storage; turn it on where both are had
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: client certificates would refuse every caller that sends only a function key
  // checkov:skip=CKV_AZURE_222: the HTTP routes are the product, called over the internet with function keys
  // checkov:skip=CKV_AZURE_212: the check reads siteConfig.numberOfWorkers, which Flex Consumption does not use: its standing instances are the always-ready ones per scale group (alwaysReadyDurableInstances)
  // checkov:skip=CKV_AZURE_213: a health check path needs an anonymous route, and every route of this app asks for a function key
  name: functionAppName
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The identity-based AzureWebJobsStorage: the host, the Durable extension and the app's locks use it.
      appSettings: [
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        {
          name: 'DURABLE_TASK_HUB_NAME'
          value: taskHubName
        }
        {
          name: 'SINGLETON_ORCHESTRATORS'
          value: 'SingletonOrchestrator'
        }
        {
          name: 'SINGLETON_MAX_INPUT_BYTES'
          value: '1048576'
        }
        {
          name: 'SINGLETON_LOCK_WAIT_SECONDS'
          value: '10'
        }
        {
          name: 'SINGLETON_LOCK_LEASE_SECONDS'
          value: '30'
        }
        {
          name: 'SINGLETON_BACKEND_TIMEOUT_SECONDS'
          value: '5'
        }
        {
          name: 'SINGLETON_START_ATTEMPTS'
          value: '3'
        }
        {
          name: 'SINGLETON_REQUEST_TIMEOUT_SECONDS'
          value: '25'
        }
        {
          name: 'SINGLETON_TERMINATE_WAIT_SECONDS'
          value: '10'
        }
        {
          name: 'SINGLETON_CONFLICT_POLICY'
          value: 'reject'
        }
        {
          name: 'SINGLETON_REUSE_POLICY'
          value: 'allow-ended'
        }
        {
          name: 'SINGLETON_MANAGEMENT_LINKS'
          value: 'app'
        }
        {
          name: 'SINGLETON_USE_FORWARDED_HOST'
          value: 'false'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 100
        instanceMemoryMB: 2048
        // Durable Functions on Flex Consumption: one always-ready instance for the `durable` group, as advised in
        // https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan
        // (its other advice, a queue polling interval of 10 s or less, is in host.json). The group holds the
        // orchestrator, activity and entity triggers; the HTTP routes still scale from zero.
        alwaysReady: (alwaysReadyDurableInstances > 0) ? durableAlwaysReady : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
  // The host starts with its roles already granted, rather than failing its first calls: the storage roles for
  // the host, Durable Functions and the locks, and the telemetry role, without which Application Insights
  // (local authentication off) refuses the first telemetry.
  dependsOn: [
    blobOwner
    queueContributor
    tableContributor
    metricsPublisher
  ]
}

// The host keeps its leases and the app its per-ID locks in blobs; Durable Functions keeps its
// control and work-item queues, and its history and instances tables, in the same account.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// With local authentication off, Application Insights accepts telemetry from this role's holders only.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

output functionAppName string = functionApp.name
output functionAppUrl string = 'https://${functionApp.properties.defaultHostName}'
