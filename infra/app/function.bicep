// The function app on a Flex Consumption plan: Python 3.11, scale to zero, deployed by azd from a blob
// container that the plan reads with the app's user-assigned identity. Every app setting the deployment
// defines is in the one `appSettings` resource below; tests/infra/test_bicep.py checks its FEED_* names
// against feed_core.settings.SETTINGS.

@description('Name of the function app (its default host name is <name>.azurewebsites.net).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('azd service name in azure.yaml; azd finds the app to deploy to by this tag.')
param serviceName string = 'api'

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity (DefaultAzureCredential and the Functions host select it by this).')
param identityClientId string

@description('Storage account holding the feed data, the host\'s blobs and the deployment container.')
param storageAccountName string

@description('Blob container for package content (FEED_BLOB_CONTAINER); storage.bicep creates it.')
param contentContainerName string

@description('Prefix of the feed\'s table names (FEED_TABLE_PREFIX); storage.bicep creates the tables.')
param tablePrefix string

@description('Blob container for the deployment package.')
param deploymentContainerName string

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Organization created on first start (FEED_ORGANIZATION).')
param organization string

@description('JSON object naming the public sources (FEED_PUBLIC_SOURCES); empty means none.')
param publicSources string

@description('NCRONTAB schedule of the upstream metadata refresh job (FEED_REFRESH_SCHEDULE).')
param refreshSchedule string

@description('NCRONTAB schedule of the upstream health job (FEED_HEALTH_SCHEDULE).')
param healthSchedule string

@description('URI of the Key Vault holding the credentials key (https://<vault>.vault.azure.net/).')
param keyVaultUri string

@description('Name of the secret holding FEED_CREDENTIALS_KEY.')
param credentialsKeySecretName string

@description('Name of the secret holding FEED_CREDENTIALS_OLD_KEYS (decrypt-only keys, for rotation).')
param credentialsOldKeysSecretName string

@description('Upper bound of instances the plan scales out to (Flex Consumption: 40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// Microsoft's Flex Consumption page lists 512, 2048 and 4096 MB, but Microsoft.Web/sites@2024-04-01, the API
// version pinned below, answers 512 with a BadRequest that names 2048 and 4096 as the only sizes (reported
// against the REST API specs, Azure/azure-rest-api-specs issue 40898). Only the sizes both accept are allowed.
@description('Memory per instance in MB (Flex Consumption with API version 2024-04-01: 2048 or 4096).')
@allowed([2048, 4096])
param instanceMemoryMB int = 2048

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings (FEED_CREDENTIALS_KEY, FEED_CREDENTIALS_OLD_KEYS, optionally
    // FEED_ADMIN_TOKEN: see infra/README.md) are resolved with this identity.
    keyVaultReferenceIdentity: identityId
    // Only what Flex Consumption accepts here: it rejects ftpsState (FTP is off through the ftp publishing
    // policy below), alwaysOn, linuxFxVersion and the other properties tests/infra/test_flex_consumption.py
    // lists with Microsoft's reasons.
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // Flex Consumption takes the runtime from here: FUNCTIONS_WORKER_RUNTIME and
      // FUNCTIONS_EXTENSION_VERSION must not be set as app settings.
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No basic-auth (user name + password) publishing: azd deploys with a Microsoft Entra token. The ftp policy is
// what turns FTP off on Flex Consumption, where siteConfig.ftpsState is refused.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// This resource replaces the whole app settings collection on every `azd provision`: a setting added by
// hand (az functionapp config appsettings set) disappears at the next provision. See infra/README.md.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // Host storage through the managed identity: no AzureWebJobsStorage connection string exists. The host
    // itself and the timer triggers need blobs only (timer locks are blob leases), plus tables for its
    // diagnostic events. Queues serve the blob trigger (poison blobs) and Durable Functions, neither of which
    // this app has, so there is no queueServiceUri and no queue role (rbac.bicep); add both with such a trigger.
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    AzureWebJobsStorage__blobServiceUri: storageAccount.properties.primaryEndpoints.blob
    AzureWebJobsStorage__tableServiceUri: storageAccount.properties.primaryEndpoints.table
    // Telemetry with Microsoft Entra authentication (the component has local auth disabled).
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // The feed's own settings (feed_core/settings.py). Secrets are never set here: FEED_ADMIN_TOKEN is
    // set after deployment, or the first token is minted with the CLI (infra/README.md); the credentials
    // keys are Key Vault references, resolved with keyVaultReferenceIdentity (a reference whose secret does
    // not exist yet reaches the app as its own text, which the app treats as no key).
    FEED_STORAGE: 'azure'
    FEED_STORAGE_TABLE_URL: storageAccount.properties.primaryEndpoints.table
    FEED_STORAGE_BLOB_URL: storageAccount.properties.primaryEndpoints.blob
    FEED_STORAGE_CLIENT_ID: identityClientId
    FEED_TABLE_PREFIX: tablePrefix // the tables storage.bicep creates are named with this prefix
    FEED_BLOB_CONTAINER: contentContainerName
    FEED_STORAGE_CREATE: 'false' // storage.bicep creates every table and the content container
    FEED_DOWNLOAD_REDIRECT: 'true' // user delegation SAS URLs, signed through the identity (no account key)
    FEED_ORGANIZATION: organization
    FEED_PUBLIC_SOURCES: empty(publicSources) ? '{}' : publicSources
    FEED_REFRESH_SCHEDULE: refreshSchedule
    FEED_HEALTH_SCHEDULE: healthSchedule
    FEED_GC_SCHEDULE: '0 30 3 * * *' // daily, at a quiet hour; change it in the app settings
    FEED_RETENTION_SCHEDULE: '0 0 4 * * *' // daily, after the gc run; change it in the app settings
    FEED_CREDENTIALS_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${credentialsKeySecretName}/)'
    FEED_CREDENTIALS_OLD_KEYS: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${credentialsOldKeysSecretName}/)'
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output url string = 'https://${functionApp.properties.defaultHostName}'
