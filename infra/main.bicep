// Azure deployment of the feed service, in the azd shape: `azd up` creates the resource group and everything
// in it, then deploys the app. Resources:
//   resource group rg-<env>
//   user-assigned managed identity   app/identity.bicep
//   storage account (tables, blobs)  app/storage.bicep
//   Log Analytics + App Insights     app/monitoring.bicep
//   Key Vault (credentials key)      app/keyvault.bicep
//   Flex Consumption plan + app      app/function.bicep
//   role assignments                 app/rbac.bicep
//
// Raw resources with pinned API versions instead of Azure Verified Modules (br/public:avm/...): the module
// registry cannot be reached from the machines this was written on, so AVM module versions and their
// parameters could not be checked, while these resource API versions are documented and stable. Each module
// under app/ is small enough to read in one screen; swapping one for its AVM equivalent later is local.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources (one that offers Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Organization the feed creates on first start; part of every feed URL (FEED_ORGANIZATION).')
param organization string = 'local'

@description('JSON object: public source name -> {"protocol": ..., "url": ...} (FEED_PUBLIC_SOURCES); empty: none.')
param publicSources string = '{}'

@description('NCRONTAB (six fields) for the upstream metadata refresh job (FEED_REFRESH_SCHEDULE).')
param refreshSchedule string = '0 */15 * * * *'

@description('NCRONTAB (six fields) for the upstream health job (FEED_HEALTH_SCHEDULE).')
param healthSchedule string = '0 */5 * * * *'

@description('Optional principal id (azd: the signed-in user) that gets the same storage data roles as the app.')
param principalId string = ''

@description('Kind of principalId.')
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
// Must match the default of FEED_BLOB_CONTAINER in feed_core/settings.py (checked by tests/infra).
var contentContainerName = 'feed-content'
// Prefix of the feed's table names: storage.bicep creates the tables with it, function.bicep sets it as
// FEED_TABLE_PREFIX, so the two cannot drift apart.
var tablePrefix = 'feed'
var deploymentContainerName = 'app-package-${resourceToken}'
// The Key Vault secrets the operator creates (infra/README.md) and the app reads through Key Vault references.
var credentialsKeySecretName = 'feed-credentials-key'
var credentialsOldKeysSecretName = 'feed-credentials-old-keys'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    contentContainerName: contentContainerName
    deploymentContainerName: deploymentContainerName
    tablePrefix: tablePrefix
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    identityPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
}

module api 'app/function.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    contentContainerName: contentContainerName
    tablePrefix: tablePrefix
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    organization: organization
    publicSources: publicSources
    refreshSchedule: refreshSchedule
    healthSchedule: healthSchedule
    keyVaultUri: keyVault.outputs.uri
    credentialsKeySecretName: credentialsKeySecretName
    credentialsOldKeysSecretName: credentialsOldKeysSecretName
  }
  // The app starts (and the host touches storage) as soon as its settings land: grant its roles first.
  dependsOn: [rbac]
}

// Outputs land in the azd environment (`azd env get-values`).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output FUNCTION_APP_URL string = api.outputs.url
output FEED_BASE_URL string = '${api.outputs.url}/${organization}'
output FEED_ORGANIZATION string = organization
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
// For the CLI run from a developer machine against the deployed storage (infra/README.md).
output FEED_STORAGE_TABLE_URL string = storage.outputs.tableEndpoint
output FEED_STORAGE_BLOB_URL string = storage.outputs.blobEndpoint
